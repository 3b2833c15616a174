variable "project_id" {
  type        = string
  description = "Project that owns the buckets."
}

variable "name_prefix" {
  type        = string
  description = "Globally unique prefix of the bucket names (for example <project id>-trackscan)."
}

variable "location" {
  type        = string
  description = "Bucket location; use the Cloud Run region so reads and writes stay in-region and free of transfer charges."
}

variable "ingest_topic_id" {
  type        = string
  description = "ID (projects/<p>/topics/<t>) of the topic that receives the ingest bucket's OBJECT_FINALIZE notifications."
}

variable "partner_uploaders" {
  type        = map(list(string))
  description = "Partner id => IAM members (e.g. serviceAccount:ingest@partner.iam.gserviceaccount.com) allowed to create objects under gs://<ingest>/<partner id>/."
  default     = {}
}

variable "work_retention_days" {
  type        = number
  description = "Age in days after which the lifecycle rule deletes work blobs that the pipeline left behind."
  default     = 1
}

variable "ingest_retention_days" {
  type        = number
  description = "Age in days after which uploaded audio is deleted; null keeps it until a partner or an operator deletes it."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels applied to every bucket."
  default     = {}
}
