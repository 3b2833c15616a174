variable "project_id" {
  type        = string
  description = "Project that owns the topics."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every topic name."
}

variable "pubsub_service_agent_email" {
  type        = string
  description = "Email of the Pub/Sub service agent (service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com); it forwards dead letters to the parked topic."
}

variable "labels" {
  type        = map(string)
  description = "Labels applied to every topic."
  default     = {}
}
