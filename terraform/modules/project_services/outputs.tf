output "enabled_services" {
  description = "The API service names this module enabled; depend on it to order API-backed resources."
  value       = [for s in google_project_service.this : s.service]
}
