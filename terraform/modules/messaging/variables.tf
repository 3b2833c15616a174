variable "project_id" {
  type        = string
  description = "Project that owns the topics."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every topic name (the services' TRACKSCAN_TOPIC_PREFIX)."
}

variable "topics" {
  type        = map(string)
  description = "Step name => its topic (the step registry's `topic`); the topic is named <name_prefix>-<topic>."
}

variable "schemas" {
  type        = map(string)
  description = "Step name (a key of topics) => the Protocol Buffer definition (a .proto file's text) that every message published to its topic must match, JSON encoded. A topic without an entry takes any message."
  default     = {}

  validation {
    condition     = alltrue([for definition in values(var.schemas) : length(trimspace(definition)) > 0])
    error_message = "A schema definition must not be empty."
  }
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
