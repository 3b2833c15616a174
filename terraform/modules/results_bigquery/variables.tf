variable "project_id" {
  type        = string
  description = "Project of the dataset, the table and the subscription."
}

variable "location" {
  type        = string
  description = "BigQuery location of the dataset (a region, e.g. europe-west4, or a multi-region); cannot change after creation."
}

variable "dataset_id" {
  type        = string
  description = "Dataset id: letters, digits and underscores only."

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,1024}$", var.dataset_id))
    error_message = "dataset_id takes letters, digits and underscores only."
  }
}

variable "topic_id" {
  type        = string
  description = "ID of the results topic (projects/<p>/topics/<name>); it must carry the TrackFinished schema (use_topic_schema)."
}

variable "topic_name" {
  type        = string
  description = "Name of the results topic, for descriptions."
}

variable "subscription_name" {
  type        = string
  description = "Name of the BigQuery subscription on the results topic."
}

variable "dead_letter_topic_id" {
  type        = string
  description = "ID of the topic where events BigQuery keeps refusing go (the parked topic; its publisher grant to the Pub/Sub service agent is made where the topic is)."
}

variable "pubsub_service_agent_email" {
  type        = string
  description = "Email of the Pub/Sub service agent (service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com): it writes the rows and moves dead letters."
}

variable "deletion_protection" {
  type        = bool
  description = "Whether Terraform refuses to destroy the table."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels of the dataset, the table and the subscription."
  default     = {}
}
