# The identity Cloud Build runs cloudbuild.yaml as, and the trigger that runs it on every push to
# the release branch. The deployer pushes images, uploads model builds, applies the Kubernetes
# manifests (Triton, the pull workers, the custom-metrics adapter) and rolls trackscan's Cloud Run
# services to a new image digest. It cannot change infrastructure (that stays with whoever runs
# terraform apply), may deploy only the services listed and act as only their runtime accounts.

locals {
  # Custom role ids allow letters, digits, "_" and "." only.
  role_prefix = replace(var.name_prefix, "-", "_")
  # projects/<p>/locations/<region>/connections/<name>: triggers live in the connection's region.
  release_location = var.release_source == null ? null : element(split("/", var.release_source.connection), 3)
}

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-deployer"
  display_name = "${var.name_prefix} deployer (Cloud Build)"
  description  = "Runs cloudbuild.yaml: test, build, push, upload model, deploy by digest."
}

# Build logs: a build running as a user-specified account writes its own logs.
resource "google_project_iam_member" "log_writer" {
  # checkov:skip=CKV_TSC_3:The deployer is Cloud Build's identity, not a runtime account; Cloud Logging has no resource-level policy for writing log entries.
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.this.email}"
}

# Deploying a revision: roles/run.developer on each trackscan service, not on the project.
resource "google_cloud_run_v2_service_iam_member" "deploy" {
  for_each = var.service_names

  project  = var.project_id
  location = var.region
  name     = each.value
  role     = "roles/run.developer"
  member   = "serviceAccount:${google_service_account.this.email}"
}

# A revision runs as its service's account: deploying it needs actAs on that account only.
resource "google_service_account_iam_member" "act_as_runtime" {
  for_each = var.runtime_service_account_names

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.this.email}"
}

# Kubernetes objects: GKE's IAM roles cannot be granted below the project. roles/container.developer
# covers namespaced objects (Triton, the pull workers); the custom role adds only the cluster-scoped
# kinds the Custom Metrics Stackdriver Adapter needs (its API services and RBAC bindings).
resource "google_project_iam_member" "kubernetes_developer" {
  # checkov:skip=CKV_TSC_3:The deployer is Cloud Build's identity, not a runtime account; GKE roles have no grant level below the project (one environment per project keeps it to trackscan's cluster).
  project = var.project_id
  role    = "roles/container.developer"
  member  = "serviceAccount:${google_service_account.this.email}"
}

resource "google_project_iam_custom_role" "cluster_objects" {
  project     = var.project_id
  role_id     = "${local.role_prefix}_cluster_objects"
  title       = "${var.name_prefix} cluster-scoped objects"
  description = "Apply the custom-metrics adapter's APIServices, ClusterRoles and bindings (inference/k8s/custom-metrics)."
  permissions = [
    "container.apiServices.create",
    "container.apiServices.get",
    "container.apiServices.update",
    "container.clusterRoleBindings.create",
    "container.clusterRoleBindings.get",
    "container.clusterRoleBindings.update",
    "container.clusterRoles.bind",
    "container.clusterRoles.create",
    "container.clusterRoles.get",
    "container.clusterRoles.update",
    "container.roleBindings.create",
    "container.roleBindings.get",
    "container.roleBindings.update",
    "container.roles.bind",
  ]
}

resource "google_project_iam_member" "cluster_objects" {
  # checkov:skip=CKV_TSC_3:The deployer is Cloud Build's identity, not a runtime account; GKE permissions have no grant level below the project (one environment per project keeps it to trackscan's cluster).
  project = var.project_id
  role    = google_project_iam_custom_role.cluster_objects.id
  member  = "serviceAccount:${google_service_account.this.email}"
}

resource "google_artifact_registry_repository_iam_member" "push" {
  project    = var.project_id
  location   = var.artifact_registry_location
  repository = var.artifact_registry_repository
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.this.email}"
}

resource "google_storage_bucket_iam_member" "models" {
  bucket = var.models_bucket_name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.this.email}"
}

# The repository link inside a Cloud Build (2nd gen) connection. The connection itself is made once
# in the console (Cloud Build > Repositories > Link repository): installing the Cloud Build GitHub
# App is an authorization only a GitHub owner can give.
resource "google_cloudbuildv2_repository" "source" {
  count = var.release_source == null ? 0 : 1

  project           = var.project_id
  location          = local.release_location
  name              = trimsuffix(basename(var.release_source.remote_uri), ".git")
  parent_connection = var.release_source.connection
  remote_uri        = var.release_source.remote_uri
}

# Every push to the release branch runs cloudbuild.yaml as the deployer: no hand step per release.
resource "google_cloudbuild_trigger" "release" {
  count = var.release_source == null ? 0 : 1

  project         = var.project_id
  location        = local.release_location
  name            = "${var.name_prefix}-release"
  description     = "Test, build and deploy trackscan on every push to ${var.release_branch}."
  service_account = google_service_account.this.id
  filename        = "cloudbuild.yaml"
  substitutions   = var.substitutions

  repository_event_config {
    repository = google_cloudbuildv2_repository.source[0].id
    push {
      branch = var.release_branch
    }
  }

  depends_on = [google_project_iam_member.log_writer]
}
