# The Google Cloud side of the pull workers (`trackscan worker --step NAME` on the spot CPU pool,
# inference/k8s/workers): each step's Kubernetes service account, worker-<step>, gets through
# Workload Identity Federation the grants its Cloud Run service has, and may pull its subscription.
# No Google service account, no key. Every grant is on a resource, or limited to trackscan's
# Firestore database by an IAM condition.

locals {
  principal = { for step in keys(var.steps) : step => "${var.principal_prefix}/ns/${var.namespace}/sa/worker-${step}" }

  bucket_grants = merge([
    for step, settings in var.steps : {
      for grant in settings.bucket_roles : "${step}/${grant.bucket}/${grant.role}" => merge(grant, { step = step })
    }
  ]...)
  publish_grants = merge([
    for step, settings in var.steps : {
      for topic in settings.publish_topic_names : "${step}/${topic}" => { step = step, topic = topic }
    }
  ]...)
}

resource "google_project_iam_member" "firestore" {
  for_each = var.steps

  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.principal[each.key]

  condition {
    title       = "only-${element(split("/", var.firestore_database), 3)}-database"
    description = "Firestore access limited to ${var.firestore_database}"
    expression  = "resource.name == \"${var.firestore_database}\""
  }
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = local.bucket_grants

  bucket = each.value.bucket
  role   = each.value.role
  member = local.principal[each.value.step]
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publish_grants

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = local.principal[each.value.step]
}

# Pull, ack and extend leases on the step's own subscription, and nothing else.
resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each = var.steps

  project      = var.project_id
  subscription = each.value.subscription_name
  role         = "roles/pubsub.subscriber"
  member       = local.principal[each.key]
}
