output "ingest_topic_id" {
  description = "ID of the uploads topic, which receives the ingest bucket's OBJECT_FINALIZE notifications."
  value       = google_pubsub_topic.step["ingest"].id
}

output "uploads_topic_name" {
  description = "Name of the uploads topic (TRACKSCAN_UPLOADS_TOPIC)."
  value       = google_pubsub_topic.step["ingest"].name
}

output "segments_topic_name" {
  description = "Name of the segments topic (TRACKSCAN_SEGMENTS_TOPIC)."
  value       = google_pubsub_topic.step["segments"].name
}

output "segments_topic_id" {
  description = "ID of the segments topic."
  value       = google_pubsub_topic.step["segments"].id
}

output "features_topic_name" {
  description = "Name of the features-ready topic (TRACKSCAN_FEATURES_TOPIC)."
  value       = google_pubsub_topic.step["features"].name
}

output "features_topic_id" {
  description = "ID of the features-ready topic."
  value       = google_pubsub_topic.step["features"].id
}

output "inferred_topic_name" {
  description = "Name of the track-inferred topic (TRACKSCAN_INFERRED_TOPIC)."
  value       = google_pubsub_topic.step["inferred"].name
}

output "inferred_topic_id" {
  description = "ID of the track-inferred topic."
  value       = google_pubsub_topic.step["inferred"].id
}

output "parked_topic_id" {
  description = "ID of the topic of last resort, where the dead-letter subscriptions send what they could not deliver."
  value       = google_pubsub_topic.parked.id
}
