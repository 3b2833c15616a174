# One VPC with two subnets: the GKE nodes (with secondary ranges for pods and services) and
# the Cloud Run Direct VPC egress range the infer service uses to reach Triton. Nothing here
# has a route to the internet: nodes are private and reach Google APIs (GCS, Artifact
# Registry) through Private Google Access.

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = var.name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "gke" {
  project                  = var.project_id
  name                     = "${var.name}-gke"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.gke_nodes_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.gke_pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.gke_services_cidr
  }

  # Flow logs are the only record of who talked to Triton's internal load balancer.
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Direct VPC egress takes instance IPs from this range; Cloud Run asks for at least a /26
# and scales to about a quarter of the range's size in instances.
resource "google_compute_subnetwork" "run_egress" {
  project                  = var.project_id
  name                     = "${var.name}-run-egress"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.run_egress_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# GCP already denies unsolicited ingress, but an explicit, logged lowest-priority deny makes
# the intent visible and records what is being refused. GKE adds its own higher-priority
# allow rules (control plane, load balancer health checks, Triton's internal load balancer).
resource "google_compute_firewall" "deny_all_ingress" {
  project   = var.project_id
  name      = "${var.name}-deny-all-ingress"
  network   = google_compute_network.this.id
  direction = "INGRESS"
  priority  = 65534

  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
