# The three buckets of the pipeline and the ingest notification.
#
# ingest: partners upload under gs://<ingest>/<partner id>/...; every finalized object is
#         announced on the ingest topic, which the ingest service consumes.
# work:   intermediate data (feature and prediction blobs). The pipeline deletes it after the
#         result is committed; the lifecycle rule removes what a failed track left behind.
# models: the Triton model repository, one content-addressed folder per model build.

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_storage_bucket" "ingest" {
  # checkov:skip=CKV_GCP_62:Object access is audited with Cloud Audit Logs (data access logs), not legacy usage-log buckets.
  project                     = var.project_id
  name                        = "${var.name_prefix}-ingest"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  # A partner re-uploading a file creates a new generation; the old one stays restorable
  # for a week so a support case can compare the two.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.ingest_retention_days == null ? [] : [var.ingest_retention_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_storage_bucket" "work" {
  # checkov:skip=CKV_GCP_62:Scratch data; object access is audited with Cloud Audit Logs, not usage-log buckets.
  # checkov:skip=CKV_GCP_78:Scratch data deleted within a day; versioning would only keep billed noncurrent copies.
  project                     = var.project_id
  name                        = "${var.name_prefix}-work"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = false
  }

  # Intermediates are re-derivable from the ingest object, so a deleted blob costs a
  # recomputation, never data. Lifecycle age counts from the midnight UTC after creation.
  lifecycle_rule {
    condition {
      age = var.work_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Soft delete would keep every deleted intermediate for 7 more (billed) days.
  soft_delete_policy {
    retention_duration_seconds = 0
  }
}

resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62:Model uploads are audited with Cloud Audit Logs (admin activity and data access), not usage-log buckets.
  project                     = var.project_id
  name                        = "${var.name_prefix}-models"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = true
  }
}

# Partners write only under their own prefix. IAM conditions on object names need uniform
# bucket-level access, which all buckets here have.
resource "google_storage_bucket_iam_member" "partner_uploaders" {
  for_each = {
    for pair in flatten([
      for partner_id, members in var.partner_uploaders : [
        for member in members : { partner_id = partner_id, member = member }
      ]
    ]) : "${pair.partner_id}/${pair.member}" => pair
  }

  bucket = google_storage_bucket.ingest.name
  role   = "roles/storage.objectCreator"
  member = each.value.member

  condition {
    title       = "only-${each.value.partner_id}-prefix"
    description = "Uploads limited to gs://${google_storage_bucket.ingest.name}/${each.value.partner_id}/"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.ingest.name}/objects/${each.value.partner_id}/\")"
  }
}

# Cloud Storage publishes notifications as its service agent, which needs the publisher
# role on the topic before the notification can be created.
resource "google_pubsub_topic_iam_member" "gcs_publisher" {
  project = var.project_id
  topic   = var.ingest_topic_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_storage_notification" "ingest_finalized" {
  bucket         = google_storage_bucket.ingest.name
  topic          = var.ingest_topic_id
  payload_format = "JSON_API_V1"
  event_types    = ["OBJECT_FINALIZE"]

  depends_on = [google_pubsub_topic_iam_member.gcs_publisher]
}
