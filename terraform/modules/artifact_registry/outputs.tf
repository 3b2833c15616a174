output "repository_id" {
  description = "Name of the repository."
  value       = google_artifact_registry_repository.this.repository_id
}

output "location" {
  description = "Region of the repository."
  value       = google_artifact_registry_repository.this.location
}

output "repository_url" {
  description = "Docker URL prefix of the repository (<location>-docker.pkg.dev/<project>/<repository>)."
  value       = "${google_artifact_registry_repository.this.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}"
}
