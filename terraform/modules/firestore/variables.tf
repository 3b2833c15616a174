variable "project_id" {
  type        = string
  description = "Project that owns the database."
}

variable "database_id" {
  type        = string
  description = "Database id (TRACKSCAN_FIRESTORE_DATABASE). A database of trackscan's own lets IAM conditions limit every grant to it; \"(default)\" is shared with anything else in the project."
  default     = "trackscan"
}

variable "location_id" {
  type        = string
  description = "Firestore location (a region such as europe-west1, or a multi-region such as eur3); cannot be changed after creation."
}

variable "tracks_collection" {
  type        = string
  description = "Collection holding one document per track (TRACKSCAN_TRACKS_COLLECTION)."
  default     = "tracks"
}

variable "unindexed_fields" {
  type        = list(string)
  description = "Fields of track documents exempt from single-field indexing: never queried alone, or sequential timestamps that would cap writes at about 500/s."
  default     = ["result", "timeline", "created_at", "updated_at"]
}

variable "delete_protection" {
  type        = bool
  description = "Whether Firestore refuses to delete the database (protects the track records)."
  default     = true
}

variable "search_vector_dimensions" {
  type        = number
  description = "Length of the search vector of DONE tracks (trackscan.domain.similarity.SEARCH_DIMENSIONS: musicnn's 200-number embedding and 100 tag logits). A change rebuilds the vector index; then run `trackscan reindex --cloud`."
  default     = 300
}
