output "name" {
  description = "Name of the Cloud Run service."
  value       = google_cloud_run_v2_service.this.name
}

output "uri" {
  description = "HTTPS URL of the service (push endpoint and OIDC audience)."
  value       = google_cloud_run_v2_service.this.uri
}

output "service_account_email" {
  description = "Email of the service's own runtime service account."
  value       = google_service_account.this.email
}

output "service_account_name" {
  description = "Resource name of the service account (projects/<p>/serviceAccounts/<email>)."
  value       = google_service_account.this.name
}
