# The Docker repository holding the one trackscan image (every Cloud Run service runs it) and
# a mirror of the Triton server image, so private GKE nodes pull without internet access.
resource "google_artifact_registry_repository" "this" {
  # checkov:skip=CKV_GCP_84:Images hold no customer data; Google-managed encryption is enough and avoids a KMS key per region.
  project       = var.project_id
  location      = var.location
  repository_id = var.repository_id
  description   = "trackscan container images"
  format        = "DOCKER"
  labels        = var.labels

  # Deploys pin digests, but immutable tags also stop a tag from silently moving under a
  # running revision's provenance.
  docker_config {
    immutable_tags = true
  }

  # Policies only delete when dry run is off.
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_recent_versions
    }
  }
}
