output "network_id" {
  description = "ID of the VPC."
  value       = google_compute_network.this.id
}

output "network_name" {
  description = "Name of the VPC."
  value       = google_compute_network.this.name
}

output "gke_subnetwork_id" {
  description = "ID of the GKE node subnet."
  value       = google_compute_subnetwork.gke.id
}

output "gke_pods_range_name" {
  description = "Name of the pods secondary range."
  value       = google_compute_subnetwork.gke.secondary_ip_range[0].range_name
}

output "gke_services_range_name" {
  description = "Name of the services secondary range."
  value       = google_compute_subnetwork.gke.secondary_ip_range[1].range_name
}

output "run_egress_subnetwork_id" {
  description = "ID of the Cloud Run Direct VPC egress subnet."
  value       = google_compute_subnetwork.run_egress.id
}

output "run_egress_subnetwork_name" {
  description = "Name of the Cloud Run Direct VPC egress subnet (known at plan time, unlike its ID)."
  value       = google_compute_subnetwork.run_egress.name
}

output "run_egress_cidr" {
  description = "CIDR of the Cloud Run Direct VPC egress subnet (the source range Triton admits)."
  value       = google_compute_subnetwork.run_egress.ip_cidr_range
}
