# The identity Cloud Build runs cloudbuild.yaml as: it pushes images, uploads model builds,
# applies the Triton manifests and rolls Cloud Run services to a new image digest. It cannot
# change infrastructure; that stays with whoever runs terraform apply.

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = var.account_id
  display_name = "trackscan deployer (Cloud Build)"
  description  = "Runs cloudbuild.yaml: test, build, push, upload model, deploy by digest."
}

resource "google_project_iam_member" "this" {
  # run.developer: deploy revisions; container.developer: apply Triton's manifests;
  # logging.logWriter: build logs (a user-specified build account writes its own logs).
  for_each = toset([
    "roles/run.developer",
    "roles/container.developer",
    "roles/logging.logWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.this.email}"
}

# Deploying a revision that runs as a service account requires actAs on that account only.
resource "google_service_account_iam_member" "act_as_runtime" {
  for_each = var.runtime_service_account_names

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.this.email}"
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
