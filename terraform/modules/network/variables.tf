variable "project_id" {
  type        = string
  description = "Project that owns the network."
}

variable "region" {
  type        = string
  description = "Region of the subnets (the same region as Cloud Run and GKE)."
}

variable "name" {
  type        = string
  description = "Name of the VPC; subnets are named after it."
}

variable "gke_nodes_cidr" {
  type        = string
  description = "Primary range of the GKE node subnet (also hosts Triton's internal load balancer address)."
  default     = "10.10.0.0/22"
}

variable "gke_pods_cidr" {
  type        = string
  description = "Secondary range for GKE pods."
  default     = "10.20.0.0/16"
}

variable "gke_services_cidr" {
  type        = string
  description = "Secondary range for GKE services."
  default     = "10.30.0.0/20"
}

variable "run_egress_cidr" {
  type        = string
  description = "Range for Cloud Run Direct VPC egress (at least /26). Triton's NetworkPolicy admits exactly this range, so change inference/k8s/base/networkpolicy.yaml with it."
  default     = "10.40.0.0/24"
}
