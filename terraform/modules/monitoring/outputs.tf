output "alert_policy_names" {
  description = "Alert => resource name of its policy."
  value = {
    dead_letters       = google_monitoring_alert_policy.dead_letters.name
    oldest_unacked     = google_monitoring_alert_policy.oldest_unacked.name
    server_errors      = google_monitoring_alert_policy.server_errors.name
    triton_unavailable = google_monitoring_alert_policy.triton_unavailable.name
    tracks_failed      = google_monitoring_alert_policy.tracks_failed.name
    auth_throttled     = google_monitoring_alert_policy.auth_throttled.name
  }
}

output "tracks_failed_metric" {
  description = "Metric type of the FAILED tracks count (log-based), labelled by failure code."
  value       = local.tracks_failed_metric
}

output "dashboard_id" {
  description = "ID of the dashboard (Cloud Monitoring > Dashboards)."
  value       = google_monitoring_dashboard.this.id
}
