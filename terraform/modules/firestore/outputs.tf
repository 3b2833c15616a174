output "database_name" {
  description = "Name of the Firestore database."
  value       = google_firestore_database.this.name
}

output "database_resource_name" {
  description = "Resource name of the database (projects/<p>/databases/<id>), the subject of IAM conditions that limit Firestore access to it."
  value       = "projects/${var.project_id}/databases/${google_firestore_database.this.name}"
}

output "tracks_collection" {
  description = "Collection holding the track documents."
  value       = var.tracks_collection
}
