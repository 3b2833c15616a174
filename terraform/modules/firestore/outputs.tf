output "database_name" {
  description = "Name of the Firestore database."
  value       = google_firestore_database.this.name
}

output "tracks_collection" {
  description = "Collection holding the track documents."
  value       = var.tracks_collection
}
