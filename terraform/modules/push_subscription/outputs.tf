output "subscription_name" {
  description = "Name of the step's subscription (push, or pull for workers)."
  value       = google_pubsub_subscription.this.name
}

output "dead_letter_topic_id" {
  description = "ID of the step's dead-letter topic."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription_name" {
  description = "Name of the subscription that pushes the dead letters to the dead-letter service."
  value       = google_pubsub_subscription.dead_letter.name
}
