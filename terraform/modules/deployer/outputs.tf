output "email" {
  description = "Email of the deployer service account (gcloud builds submit --service-account for a release by hand)."
  value       = google_service_account.this.email
}

output "service_account_id" {
  description = "Resource name of the deployer account (projects/<p>/serviceAccounts/<email>), as gcloud builds submit --service-account takes it."
  value       = google_service_account.this.id
}

output "trigger_name" {
  description = "Name of the release trigger (gcloud builds triggers run NAME --region REGION); null without a release_source."
  value       = var.release_source == null ? null : google_cloudbuild_trigger.release[0].name
}
