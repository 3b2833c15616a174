variable "project_id" {
  type        = string
  description = "Project of the cluster."
}

variable "region" {
  type        = string
  description = "Region of the VPC subnet (for Triton's internal address)."
}

variable "location" {
  type        = string
  description = "Cluster location: a region (regional control plane, recommended) or a zone."
}

variable "name" {
  type        = string
  description = "Cluster name; the node service account is named after it."
}

variable "network_id" {
  type        = string
  description = "ID of the VPC."
}

variable "subnetwork_id" {
  type        = string
  description = "ID of the node subnet (also hosts Triton's internal load balancer address)."
}

variable "pods_range_name" {
  type        = string
  description = "Secondary range of the node subnet used for pods."
}

variable "services_range_name" {
  type        = string
  description = "Secondary range of the node subnet used for services."
}

variable "master_ipv4_cidr_block" {
  type        = string
  description = "A /28 for the control plane's private endpoint; null lets GKE choose (Private Service Connect clusters)."
  default     = null
}

variable "release_channel" {
  type        = string
  description = "GKE release channel (RAPID, REGULAR or STABLE)."
  default     = "REGULAR"
}

variable "system_machine_type" {
  type        = string
  description = "Machine type of the system pool."
  default     = "e2-standard-4"
}

variable "system_spot" {
  type        = bool
  description = "Whether the system pool runs on spot VMs (about half the price; kube-system and the metrics adapter move when one is reclaimed)."
  default     = false
}

variable "system_max_nodes" {
  type        = number
  description = "Maximum nodes of the system pool across all its zones."
  default     = 3
}

variable "gpu_machine_type" {
  type        = string
  description = "Machine type of the spot GPU pool (g2-* carries L4 GPUs, n1-* takes T4s)."
  default     = "g2-standard-4"
}

variable "gpu_type" {
  type        = string
  description = "Accelerator type attached to each GPU node, e.g. nvidia-l4 or nvidia-tesla-t4."
  default     = "nvidia-l4"
}

variable "gpu_count" {
  type        = number
  description = "GPUs per GPU node."
  default     = 1
}

variable "gpu_driver_version" {
  type        = string
  description = "GPU driver GKE installs: DEFAULT (tested with the node version) or LATEST."
  default     = "DEFAULT"
}

variable "gpu_max_nodes" {
  type        = number
  description = "Maximum spot GPU nodes across all zones (caps Triton replicas and GPU spend)."
  default     = 4
}

variable "gpu_node_locations" {
  type        = list(string)
  description = "Zones of the GPU pool (only zones offering the GPU type); empty uses the cluster's zones."
  default     = []
}

variable "artifact_registry_location" {
  type        = string
  description = "Region of the Artifact Registry repository the nodes pull from."
}

variable "artifact_registry_repository" {
  type        = string
  description = "Name of the Artifact Registry repository the nodes pull from (holds the Triton mirror)."
}

variable "models_bucket_name" {
  type        = string
  description = "Bucket of the Triton model repository; Triton's Kubernetes service account may read it."
}

variable "triton_namespace" {
  type        = string
  description = "Kubernetes namespace of Triton (must match inference/k8s/base)."
  default     = "trackscan-inference"
}

variable "triton_service_account" {
  type        = string
  description = "Kubernetes service account of the Triton pods (must match inference/k8s/base)."
  default     = "triton"
}

variable "triton_ilb_address_name" {
  type        = string
  description = "Name of the reserved internal address of Triton's load balancer; null uses <name>-triton-ilb. Cloud Build writes it into the Service annotation (networking.gke.io/load-balancer-ip-addresses)."
  default     = null
}

variable "gpu_pool" {
  type        = bool
  description = "Create the spot GPU pool for Triton (the cloud-run lane); the workers lane runs the model on the CPU pool."
  default     = true
}

variable "worker_machine_type" {
  type        = string
  description = "Machine type of the spot CPU pool that runs the pull workers."
  default     = "e2-standard-4"
}

variable "worker_max_nodes" {
  type        = number
  description = "Maximum spot CPU nodes across all zones (caps the pull workers and their spend)."
  default     = 10
}

variable "deletion_protection" {
  type        = bool
  description = "Whether Terraform refuses to destroy the cluster."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels of the cluster and its nodes."
  default     = {}
}
