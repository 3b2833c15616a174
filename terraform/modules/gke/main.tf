# The GKE Standard cluster that runs Triton: private nodes, Workload Identity, shielded
# nodes, Dataplane V2 (which enforces NetworkPolicy), a small system pool (on-demand unless system_spot) and a
# spot GPU pool that scales from zero. Triton itself is deployed by Cloud Build from
# inference/k8s/ (see terraform/README.md for why it is not a Terraform resource).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  # Workload Identity Federation principal of a Kubernetes service account: IAM grants go
  # straight to it, no Google service account or annotation in between.
  ksa_principal_prefix = "principal://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools/${local.workload_pool}/subject"
  # Address names are per project and region: derived from the cluster's name, so a second
  # environment in the project does not collide. Cloud Build writes it into the Service annotation.
  triton_ilb_address_name = coalesce(var.triton_ilb_address_name, "${var.name}-triton-ilb")
}

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = substr("${var.name}-nodes", 0, 30)
  display_name = "GKE nodes of ${var.name}"
  description  = "Node identity: logs, metrics and image pulls only; workloads use Workload Identity."
}

resource "google_project_iam_member" "nodes" {
  # checkov:skip=CKV_TSC_3:The node account only writes the nodes' own logs and metrics and reads their configuration (roles/container.defaultNodeServiceAccount has no resource-level form); workloads run as their own Workload Identity principals.
  project = var.project_id
  role    = "roles/container.defaultNodeServiceAccount"
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  project    = var.project_id
  location   = var.artifact_registry_location
  repository = var.artifact_registry_repository
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  # checkov:skip=CKV_GCP_69:Workload metadata is set per node pool (both pools use GKE_METADATA); the default pool is removed.
  # checkov:skip=CKV_GCP_21:False positive: resource_labels is set, from a merge() of module inputs that checkov cannot evaluate offline.
  # checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain with a gke-security-groups group; access is granted with IAM roles instead.
  project  = var.project_id
  name     = var.name
  location = var.location

  network         = var.network_id
  subnetwork      = var.subnetwork_id
  networking_mode = "VPC_NATIVE"

  # Node pools are separate resources; the default pool only exists during creation.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection
  resource_labels          = merge(var.labels, { component = "inference" })

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  # Nodes have no public IP and the control plane has no public IP endpoint. Cloud Build and
  # operators reach it through the DNS endpoint, which is authorized by IAM.
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = true
    master_ipv4_cidr_block  = var.master_ipv4_cidr_block
  }

  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  # No CIDR listed: the private IP endpoint is reachable from the VPC only.
  master_authorized_networks_config {
  }

  # Dataplane V2 (eBPF) enforces NetworkPolicy itself; the Calico add-on must stay off.
  datapath_provider = "ADVANCED_DATAPATH"
  network_policy {
    enabled = false
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true
  enable_legacy_abac          = false

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  # Managed Prometheus scrapes Triton's queue-time metrics (port 8002).
  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }

  addons_config {
    horizontal_pod_autoscaling {
      disabled = false
    }
    http_load_balancing {
      disabled = false
    }
  }
}

# System pool: kube-system and the metrics adapter; on-demand unless system_spot says otherwise
# (the workers lane, whose every other node is spot: a reclaimed system node costs it a minute
# or two without autoscaling, not work).
resource "google_container_node_pool" "system" {
  project  = var.project_id
  name     = "system"
  location = var.location
  cluster  = google_container_cluster.this.id

  initial_node_count = 1

  autoscaling {
    total_min_node_count = 1
    total_max_node_count = var.system_max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.system_machine_type
    spot            = var.system_spot
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = 50
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    resource_labels = var.labels

    metadata = {
      disable-legacy-endpoints = "true"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]
  }

  depends_on = [google_project_iam_member.nodes]
}

# Spot GPU pool for Triton. Spot VMs get a 30 s notice, of which pods get 15 s; the Triton
# manifests are sized to that budget. Scales to zero when Triton has no replicas.
resource "google_container_node_pool" "gpu_spot" {
  count = var.gpu_pool ? 1 : 0

  project        = var.project_id
  name           = "gpu-spot"
  location       = var.location
  cluster        = google_container_cluster.this.id
  node_locations = length(var.gpu_node_locations) > 0 ? var.gpu_node_locations : null

  initial_node_count = 0

  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.gpu_max_nodes
    # Spot capacity comes and goes per zone: take it wherever it is.
    location_policy = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gpu_machine_type
    image_type      = "COS_CONTAINERD"
    spot            = true
    disk_type       = "pd-balanced"
    disk_size_gb    = 100 # the Triton image is about 15 GB
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    resource_labels = var.labels

    # GKE adds cloud.google.com/gke-spot=true itself; this label names the pool's purpose.
    labels = {
      "trackscan.dev/pool" = "gpu-spot"
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }

    guest_accelerator {
      type  = var.gpu_type
      count = var.gpu_count

      # GKE installs the driver matching the node version: no NVIDIA DaemonSet to maintain.
      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    # Only pods that tolerate both GPUs and preemption land here; GKE Standard does not
    # taint spot pools by itself.
    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    taint {
      key    = "cloud.google.com/gke-spot"
      value  = "true"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]
  }

  depends_on = [google_project_iam_member.nodes]
}

# Spot CPU pool for the pull workers (`trackscan worker --step NAME`, inference/k8s/workers): the
# CPU steps at spot prices. Spot VMs get a 30 s notice, of which pods get 15 s; a step takes at
# most 10 s, and a killed worker's messages come back after their lease. Scales to zero when no
# step runs on workers.
resource "google_container_node_pool" "cpu_spot" {
  project  = var.project_id
  name     = "cpu-spot"
  location = var.location
  cluster  = google_container_cluster.this.id

  initial_node_count = 0

  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.worker_max_nodes
    location_policy      = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.worker_machine_type
    image_type      = "COS_CONTAINERD"
    spot            = true
    disk_type       = "pd-balanced"
    disk_size_gb    = 50
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    resource_labels = var.labels

    labels = {
      "trackscan.dev/pool" = "cpu-spot"
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }

    # Only pods that accept preemption land here.
    taint {
      key    = "cloud.google.com/gke-spot"
      value  = "true"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]
  }

  depends_on = [google_project_iam_member.nodes]
}

# Static internal address of Triton's internal passthrough load balancer, referenced by
# name from the Service annotation networking.gke.io/load-balancer-ip-addresses.
resource "google_compute_address" "triton" {
  project      = var.project_id
  name         = local.triton_ilb_address_name
  region       = var.region
  subnetwork   = var.subnetwork_id
  address_type = "INTERNAL"
}

# Triton reads the model repository (gs://<models>/...) as its Kubernetes service account.
resource "google_storage_bucket_iam_member" "triton_models" {
  bucket = var.models_bucket_name
  role   = "roles/storage.objectViewer"
  member = "${local.ksa_principal_prefix}/ns/${var.triton_namespace}/sa/${var.triton_service_account}"
}

# The Custom Metrics Stackdriver Adapter serves the GPU duty-cycle metric to Triton's HPA.
resource "google_project_iam_member" "metrics_adapter" {
  # checkov:skip=CKV_TSC_3:Cloud Monitoring time series have no resource-level policy; roles/monitoring.viewer reads metrics and dashboards only, no application data.
  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = "${local.ksa_principal_prefix}/ns/custom-metrics/sa/custom-metrics-stackdriver-adapter"
}
