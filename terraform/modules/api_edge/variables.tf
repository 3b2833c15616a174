variable "project_id" {
  type        = string
  description = "Project of the load balancer and the security policy."
}

variable "name" {
  type        = string
  description = "Prefix of every resource name (<name>-api)."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run service."
}

variable "cloud_run_service_name" {
  type        = string
  description = "Name of the API's Cloud Run service (its ingress must be INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER)."
}

variable "domains" {
  type        = list(string)
  description = "Domains of the Google-managed certificate; point each one's DNS A record at the ip_address output."

  validation {
    condition     = length(var.domains) > 0
    error_message = "domains needs at least one domain for the certificate."
  }
}

variable "rate_limit_per_minute" {
  type        = number
  description = "Requests a minute one client address may send; beyond, Cloud Armor answers 429."
  default     = 600
}

variable "labels" {
  type        = map(string)
  description = "Labels of the address and the forwarding rule."
  default     = {}
}
