# The topic of each pipeline step (the ingest topic also receives the ingest bucket's
# OBJECT_FINALIZE notifications and the upload events the API publishes; the deliver step's topic,
# results, every track's result event, checked against its Protocol Buffer schema), plus the topic of last
# resort for messages that the dead-letter service itself could not handle. Subscriptions live
# with their consumer (module push_subscription), because a push subscription needs its Cloud Run
# URL.

resource "google_pubsub_topic" "step" {
  # checkov:skip=CKV_GCP_83:Messages carry ids, URIs and tag results, never audio; Google-managed encryption is enough.
  for_each = var.topics

  project = var.project_id
  name    = "${var.name_prefix}-${each.value}"
  labels  = var.labels

  # A topic with a schema (the results topic) refuses every message that does not match it, so a
  # malformed event fails its publisher, which retries, instead of reaching partners and BigQuery.
  dynamic "schema_settings" {
    for_each = [for step, schema in google_pubsub_schema.topic : schema.id if step == each.key]
    content {
      schema   = schema_settings.value
      encoding = "JSON"
    }
  }
}

# The schema of each topic given one (var.schemas). A changed definition is committed as a new
# revision of the same schema, and the topic accepts every revision (no first or last revision
# set), so change it only compatibly: add optional fields at new numbers. Pub/Sub keeps at most
# 20 revisions; delete old ones by hand (gcloud pubsub schemas delete-revision).
resource "google_pubsub_schema" "topic" {
  for_each = var.schemas

  project    = var.project_id
  name       = "${var.name_prefix}-${var.topics[each.key]}"
  type       = "PROTOCOL_BUFFER"
  definition = each.value
}

# Nothing subscribes to the parked topic on purpose: any subscription needs a dead-letter
# topic of its own, which would regress forever. The topic retains messages for 31 days
# instead; an operator replays them by creating a subscription and seeking it back in time.
resource "google_pubsub_topic" "parked" {
  # checkov:skip=CKV_GCP_83:Messages carry ids, URIs and tag results, never audio; Google-managed encryption is enough.
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
