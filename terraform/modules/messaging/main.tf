# The topic of each pipeline step (the ingest topic also receives the ingest bucket's
# OBJECT_FINALIZE notifications and the upload events the API publishes), plus the topic of last
# resort for messages that the dead-letter service itself could not handle. Subscriptions live
# with their consumer (module push_subscription), because a push subscription needs its Cloud Run
# URL.

resource "google_pubsub_topic" "step" {
  # checkov:skip=CKV_GCP_83:Messages carry only ids and URIs, never audio; Google-managed encryption is enough.
  for_each = var.topics

  project = var.project_id
  name    = "${var.name_prefix}-${each.value}"
  labels  = var.labels
}

# Nothing subscribes to the parked topic on purpose: any subscription needs a dead-letter
# topic of its own, which would regress forever. The topic retains messages for 31 days
# instead; an operator replays them by creating a subscription and seeking it back in time.
resource "google_pubsub_topic" "parked" {
  # checkov:skip=CKV_GCP_83:Messages carry only ids and URIs, never audio; Google-managed encryption is enough.
  project                    = var.project_id
  name                       = "${var.name_prefix}-dead-letter-parked"
  labels                     = var.labels
  message_retention_duration = "2678400s"
}

resource "google_pubsub_topic_iam_member" "parked_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.parked.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.pubsub_service_agent_email}"
}
