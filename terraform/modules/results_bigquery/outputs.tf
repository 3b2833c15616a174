output "dataset_id" {
  description = "ID of the results dataset."
  value       = google_bigquery_dataset.this.dataset_id
}

output "table" {
  description = "The results table as SQL names it: <project>.<dataset>.track_finished."
  value       = "${google_bigquery_table.track_finished.project}.${google_bigquery_table.track_finished.dataset_id}.${google_bigquery_table.track_finished.table_id}"
}

output "subscription_name" {
  description = "Name of the BigQuery subscription on the results topic."
  value       = google_pubsub_subscription.bigquery.name
}
