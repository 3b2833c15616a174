# One Cloud Run service of the pipeline: the shared trackscan image with FUNCTION_TARGET
# picking the entrypoint, running as its own service account that holds only the grants
# passed in. Cloud Build deploys new images by digest, so Terraform owns the configuration
# and ignores the image it did not set.

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = substr(var.name, 0, 30)
  display_name = "Cloud Run ${var.name}"
  description  = "Runtime identity of the ${var.name} service (${var.function_target})."
}

resource "google_cloud_run_v2_service" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  description         = var.description
  ingress             = var.ingress
  labels              = var.labels
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.this.email
    timeout                          = "${var.timeout_s}s"
    max_instance_request_concurrency = var.concurrency
    # Gen2 gives a full Linux kernel: the features and ingest steps decode in a child process
    # under an address-space limit (the decoder sandbox), which gen1's sandbox restricts.
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
    labels                = var.labels

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    dynamic "vpc_access" {
      for_each = var.vpc_egress_subnetwork == null ? [] : [var.vpc_egress_subnetwork]
      content {
        # Direct VPC egress: only private ranges (Triton's internal address) go through the
        # VPC; Google APIs keep their direct path.
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          subnetwork = vpc_access.value
        }
      }
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      env {
        name  = "FUNCTION_TARGET"
        value = var.function_target
      }

      # One server thread per request Cloud Run may send at once (trackscan.api.serving reads
      # THREADS), as the dev stack runs them: a slow request, such as a partner's upload, holds
      # its own thread and never queues the others.
      env {
        name  = "THREADS"
        value = tostring(var.concurrency)
      }

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # Request-based billing: instances cost nothing between messages.
        cpu_idle = true
        # Cold starts import librosa/numba; the boost keeps them inside the step budget.
        startup_cpu_boost = true
      }
    }
  }

  lifecycle {
    # Cloud Build rolls out images by digest (gcloud run services update --image ...).
    ignore_changes = [
      template[0].containers[0].image,
      client,
      client_version,
    ]
  }

  depends_on = [google_secret_manager_secret_iam_member.reader]
}

# for_each keys are static labels: member e-mails of accounts created in the same apply are
# unknown at plan time and cannot be keys.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invoker_members

  project  = var.project_id
  location = google_cloud_run_v2_service.this.location
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# The service holds no unconditioned project-level role: Firestore access is granted on the
# project (Firestore has no per-database policy) but only for trackscan's own database.
resource "google_project_iam_member" "firestore" {
  count = var.firestore_database == null ? 0 : 1

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.this.email}"

  condition {
    title       = "only-${element(split("/", var.firestore_database), 3)}-database"
    description = "Firestore access limited to ${var.firestore_database}"
    expression  = "resource.name == \"${var.firestore_database}\""
  }
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = { for grant in var.bucket_roles : "${grant.bucket}/${grant.role}" => grant }

  bucket = each.value.bucket
  role   = each.value.role
  member = "serviceAccount:${google_service_account.this.email}"
}

# The service reads the secrets of secret_env, and only those; its revisions start once it may.
resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = var.secret_env

  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.this.email}"
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = toset(var.publish_topic_names)

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.this.email}"
}

# V4 signed URLs without a key file: the service signs through the IAM signBlob API as
# itself, which needs the token creator role on its own account (and nothing wider).
resource "google_service_account_iam_member" "self_signer" {
  count = var.sign_urls ? 1 : 0

  service_account_id = google_service_account.this.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.this.email}"
}
