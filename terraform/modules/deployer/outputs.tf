output "email" {
  description = "Email of the deployer service account (set it as the Cloud Build trigger's service account)."
  value       = google_service_account.this.email
}
