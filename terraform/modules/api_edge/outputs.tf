output "ip_address" {
  description = "Global IPv4 address of the load balancer (the domains' DNS A record)."
  value       = google_compute_global_address.api.address
}

output "url" {
  description = "HTTPS URL of the API through the load balancer (its first domain)."
  value       = "https://${var.domains[0]}"
}

output "security_policy_name" {
  description = "Name of the Cloud Armor policy (its logs and rule hits are in Cloud Logging under the backend service)."
  value       = google_compute_security_policy.api.name
}
