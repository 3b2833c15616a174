variable "project_id" {
  type        = string
  description = "Project of the alert policies, log-based metrics and dashboard."
}

variable "name_prefix" {
  type        = string
  description = "The environment's name_prefix: names the policies, metrics and dashboard, and selects its services' logs."
}

variable "service_names" {
  type        = list(string)
  description = "Cloud Run services whose 5xx rate is watched."
}

variable "step_service_names" {
  type        = list(string)
  description = "Cloud Run services of the steps, pushed by Pub/Sub: the log entries of their successful requests are excluded from Cloud Logging."
}

variable "subscription_names" {
  type        = list(string)
  description = "The steps' subscriptions and the results' BigQuery subscription, whose oldest unacked message age is watched."
}

variable "dead_letter_subscription_names" {
  type        = list(string)
  description = "The dead-letter subscriptions (their own dead letters go to the parked topic)."
}

variable "cluster_name" {
  type        = string
  description = "GKE cluster running Triton."
}

variable "triton_namespace" {
  type        = string
  description = "Kubernetes namespace of Triton."
}

variable "worker_namespace" {
  type        = string
  description = "Kubernetes namespace of the pull workers, whose logs count like the services'."
}

variable "notification_channels" {
  type        = list(string)
  description = "Notification channel ids (projects/<p>/notificationChannels/<id>) every alert goes to."
  default     = []
}

variable "alert_email" {
  type        = string
  description = "An e-mail address to create a notification channel for; null for none."
  default     = null
}

variable "oldest_unacked_age_threshold_s" {
  type        = number
  description = "Age in seconds of a subscription's oldest unacked message that raises an alert. A healthy step acks in seconds; retries back off up to 600 s."
  default     = 1800
}

variable "error_ratio_threshold" {
  type        = number
  description = "Fraction of a service's requests answered 5xx over 5 minutes that raises an alert."
  default     = 0.05
}

variable "failed_tracks_per_hour_threshold" {
  type        = number
  description = "Tracks recorded FAILED within an hour that raise an alert."
  default     = 10
}

variable "auth_throttled_per_hour_threshold" {
  type        = number
  description = "Alert when more sign-ins than this (API keys, ID tokens, console logins) are answered 429 for repeated failures in an hour."
  default     = 50
}
