variable "project_id" {
  type        = string
  description = "Project of the subscriptions and the dead-letter topic."
}

variable "name" {
  type        = string
  description = "Subscription name; the dead-letter topic and its subscription are named <name>-dead-letter."
}

variable "topic_id" {
  type        = string
  description = "ID of the topic the step consumes."
}

variable "push_endpoint" {
  type        = string
  description = "URL of the Cloud Run service that handles the step (also the OIDC audience); null makes it a pull subscription for the step's workers on GKE."
}

variable "dead_letter_endpoint" {
  type        = string
  description = "URL of the dead-letter Cloud Run service."
}

variable "push_service_account_email" {
  type        = string
  description = "Service account whose OIDC token Pub/Sub attaches to each push; it must hold roles/run.invoker on both endpoints."
}

variable "pubsub_service_agent_email" {
  type        = string
  description = "Email of the Pub/Sub service agent (service-<project number>@gcp-sa-pubsub.iam.gserviceaccount.com)."
}

variable "parked_topic_id" {
  type        = string
  description = "ID of the topic of last resort for dead letters the dead-letter service could not handle."
}

variable "ack_deadline_seconds" {
  type        = number
  description = "Ack deadline, which for push is also the request timeout; keep it above the service timeout."
  default     = 60

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be within 10..600."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries before a message is dead-lettered; preemption NACKs count too, so keep it well above 5."
  default     = 15

  validation {
    condition     = var.max_delivery_attempts >= 10 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be within 10..100 so preemption NACKs cannot dead-letter healthy messages."
  }
}

variable "minimum_backoff" {
  type        = string
  description = "Shortest delay before a NACKed message is redelivered (duration, e.g. \"10s\")."
  default     = "10s"
}

variable "maximum_backoff" {
  type        = string
  description = "Longest delay before a NACKed message is redelivered (duration, at most \"600s\")."
  default     = "600s"
}

variable "message_retention_duration" {
  type        = string
  description = "How long unacknowledged messages are kept (duration, 10 min to 31 days)."
  default     = "604800s"
}

variable "labels" {
  type        = map(string)
  description = "Labels of the subscriptions and the dead-letter topic."
  default     = {}
}
