output "topic_names" {
  description = "Step name => name of the topic that step consumes."
  value       = { for step, topic in google_pubsub_topic.step : step => topic.name }
}

output "topic_ids" {
  description = "Step name => ID of the topic that step consumes."
  value       = { for step, topic in google_pubsub_topic.step : step => topic.id }
}

output "parked_topic_id" {
  description = "ID of the topic of last resort, where the dead-letter subscriptions send what they could not deliver."
  value       = google_pubsub_topic.parked.id
}

output "schema_ids" {
  description = "Step name => ID (projects/<p>/schemas/<name>) of the schema its topic's messages must match, for the steps given one."
  value       = { for step, schema in google_pubsub_schema.topic : step => schema.id }
}
