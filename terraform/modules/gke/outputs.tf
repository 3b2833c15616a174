output "cluster_name" {
  description = "Name of the cluster."
  value       = google_container_cluster.this.name
}

output "cluster_location" {
  description = "Location of the cluster."
  value       = google_container_cluster.this.location
}

output "dns_endpoint" {
  description = "DNS endpoint of the control plane (gcloud container clusters get-credentials --dns-endpoint)."
  value       = google_container_cluster.this.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
}

output "triton_address" {
  description = "Internal IP of Triton's load balancer."
  value       = google_compute_address.triton.address
}

output "triton_grpc_url" {
  description = "host:port of Triton's gRPC endpoint (TRITON_GRPC_URL)."
  value       = "${google_compute_address.triton.address}:8001"
}

output "node_service_account_email" {
  description = "Email of the node service account."
  value       = google_service_account.nodes.email
}

output "triton_ilb_address_name" {
  description = "Name of Triton's reserved internal address (the Service annotation networking.gke.io/load-balancer-ip-addresses)."
  value       = google_compute_address.triton.name
}

output "workload_identity_principal_prefix" {
  description = "Workload Identity Federation principal of a Kubernetes service account, without /ns/<namespace>/sa/<name>."
  value       = local.ksa_principal_prefix
}
