# A pipeline step's input: a push subscription to its Cloud Run service (or a pull subscription for
# its GKE workers), with a dead-letter topic of its own and a second push subscription that hands the dead letters to the
# dead-letter service, which marks the track FAILED (RETRIES_EXHAUSTED).
#
# Retry arithmetic: every NACK and every ack-deadline expiry counts as a delivery attempt,
# including the ones caused by a worker being stopped mid-step (Cloud Run scale-in, spot
# preemption of Triton making infer fail). 15 attempts with 10..600 s backoff is about an
# hour of retrying before a healthy message could be dead-lettered.

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83:Messages carry ids, URIs and tag results, never audio; Google-managed encryption is enough.
  project = var.project_id
  name    = "${var.name}-dead-letter"
  labels  = var.labels
}

resource "google_pubsub_subscription" "this" {
  project = var.project_id
  name    = var.name
  topic   = var.topic_id
  labels  = var.labels

  # For push, the ack deadline is also the HTTP timeout of the push request: a step takes
  # at most 10 s, the service times out at 30 s, so 60 s never cuts a live request short.
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  # A quiet week must not delete the subscription (the default expiry is 31 days idle).
  expiration_policy {
    ttl = ""
  }

  # Pushed to the step's Cloud Run service, or (push_endpoint null) pulled by the step's workers on
  # GKE. One subscription either way: switching keeps its backlog, and a message is never handled
  # by both.
  dynamic "push_config" {
    for_each = var.push_endpoint == null ? [] : [var.push_endpoint]
    content {
      push_endpoint = push_config.value
      oidc_token {
        service_account_email = var.push_service_account_email
        audience              = push_config.value
      }
    }
  }

  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}

resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = "${var.name}-dead-letter"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = var.labels

  ack_deadline_seconds = var.ack_deadline_seconds
  # Dead letters wait for a week even if the dead-letter service is down.
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = var.dead_letter_endpoint
    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.dead_letter_endpoint
    }
  }

  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  # What the dead-letter service cannot record goes to the parked topic (31 days retention).
  dead_letter_policy {
    dead_letter_topic     = var.parked_topic_id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# Pub/Sub moves a message to a dead-letter topic as its service agent: it must be able to
# publish to the dead-letter topic and to subscribe (ack) on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.pubsub_service_agent_email}"
}

resource "google_pubsub_subscription_iam_member" "source_subscriber" {
  for_each = {
    step        = google_pubsub_subscription.this.name
    dead_letter = google_pubsub_subscription.dead_letter.name
  }

  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent_email}"
}
