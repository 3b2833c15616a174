output "ingest_bucket_name" {
  description = "Name of the ingest bucket (TRACKSCAN_INGEST_BUCKET)."
  value       = google_storage_bucket.ingest.name
}

output "work_bucket_name" {
  description = "Name of the work bucket (TRACKSCAN_WORK_BUCKET)."
  value       = google_storage_bucket.work.name
}

output "models_bucket_name" {
  description = "Name of the Triton model repository bucket."
  value       = google_storage_bucket.models.name
}

output "gcs_service_agent_email" {
  description = "Email of the project's Cloud Storage service agent (publishes the notifications)."
  value       = data.google_storage_project_service_account.gcs.email_address
}
