# The results topic's events in BigQuery: a dataset, a table whose columns are the fields of
# terraform/schemas/track_finished.proto plus the metadata Pub/Sub writes, and a BigQuery
# subscription on the results topic that writes every event to it. No code runs in between:
# Pub/Sub writes each message's JSON fields to the columns of the same names (use_topic_schema).
#
# Delivery is at least once, and the pipeline itself may announce one state change more than once
# (a redelivered step repeats its announcement): rows repeat, with the same event_id. Queries dedupe
# by event_id (terraform/README.md, Results delivery).

resource "google_bigquery_dataset" "this" {
  # checkov:skip=CKV_GCP_81:Result events hold tags, scores, ids and URIs, never audio; Google-managed encryption is enough, as for the topics.
  project     = var.project_id
  dataset_id  = var.dataset_id
  location    = var.location
  description = "trackscan result events: one row per result event of the ${var.topic_name} topic."
  labels      = var.labels

  # Destroying the environment must not take the results history with it.
  delete_contents_on_destroy = false
}

resource "google_bigquery_table" "track_finished" {
  # checkov:skip=CKV_GCP_80:Result events hold tags, scores, ids and URIs, never audio; Google-managed encryption is enough, as for the topics.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.this.dataset_id
  table_id            = "track_finished"
  description         = "One row per result event (trackscan.results.v1.TrackFinished), written by the ${var.subscription_name} subscription; at least once: dedupe by event_id."
  labels              = var.labels
  deletion_protection = var.deletion_protection

  # The proto's fields, the same names (repeated: REPEATED, optional: NULLABLE, TagScore: RECORD), then
  # the metadata columns of write_metadata. tests/infra compares it with the .proto.
  schema = file("${path.module}/track_finished.schema.json")

  # Queries read a few days at a time: partitions by the day the event was published, and within
  # each, rows clustered by partner, so a per-partner query reads only that partner's blocks.
  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }
  clustering = ["partner"]
}

# Pub/Sub writes as its service agent: it must be able to write to the table and read its
# metadata (roles/bigquery.dataEditor, on this table only).
resource "google_bigquery_table_iam_member" "pubsub_writer" {
  project    = var.project_id
  dataset_id = google_bigquery_table.track_finished.dataset_id
  table_id   = google_bigquery_table.track_finished.table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${var.pubsub_service_agent_email}"
}

resource "google_pubsub_subscription" "bigquery" {
  project = var.project_id
  name    = var.subscription_name
  topic   = var.topic_id
  labels  = var.labels

  ack_deadline_seconds = 60

  bigquery_config {
    table = "${google_bigquery_table.track_finished.project}.${google_bigquery_table.track_finished.dataset_id}.${google_bigquery_table.track_finished.table_id}"
    # The topic's schema maps each field to its column; subscription_name, message_id,
    # publish_time and attributes go to their own columns.
    use_topic_schema = true
    write_metadata   = true
    # A field the schema gains before the table has its column is left out of the row rather
    # than holding every event back (the schema only ever gains optional fields; a test keeps the
    # table's columns equal to the .proto's fields, so both change in the same apply).
    drop_unknown_fields = true
  }

  # A quiet week must not delete the subscription (the default expiry is 31 days idle).
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # An event BigQuery keeps refusing (a column whose type no longer matches) goes to the parked
  # topic, kept 31 days, not to the dead-letter service: that service would send it back to the
  # results topic, and so to the partner's webhook again.
  dead_letter_policy {
    dead_letter_topic     = var.dead_letter_topic_id
    max_delivery_attempts = 15
  }

  # Pub/Sub checks its rights on the table when the subscription is created.
  depends_on = [google_bigquery_table_iam_member.pubsub_writer]
}

# Pub/Sub moves a message to the dead-letter topic as its service agent: it must be able to
# subscribe (ack) on the source subscription (the parked topic grants it publishing).
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.bigquery.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent_email}"
}
