variable "project_id" {
  type        = string
  description = "Google Cloud project that hosts the environment."
}

variable "region" {
  type        = string
  description = "Region of Cloud Run, the buckets, the VPC and Artifact Registry (pick one with L4 or T4 GPUs for GKE)."
  default     = "europe-west4"
}

variable "environment" {
  type        = string
  description = "Environment name, used in labels."
  default     = "dev"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every name this environment creates (services, accounts, topics, subscriptions, cluster, database, trigger), so two environments can share a project."
  default     = "trackscan"

  validation {
    # Service account ids are at most 30 characters; the longest suffix is "-dead-letter" (12).
    condition     = can(regex("^[a-z][a-z0-9-]{0,16}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2 to 18 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "bucket_prefix" {
  type        = string
  description = "Globally unique prefix of the bucket names; null uses <project id>-<name_prefix>."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Extra labels for every labelled resource (for cost reports)."
  default     = {}
}

variable "bootstrap_image" {
  type        = string
  description = "Image of the first deployment, before Cloud Build has pushed one; afterwards Cloud Build rolls out images by digest and Terraform ignores this."
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "model_sha256" {
  type        = string
  description = "SHA-256 of the served model.onnx (TRACKSCAN_MODEL_SHA256); Cloud Build prints it when it uploads a model build."
  default     = ""
}

variable "triton_model_name" {
  type        = string
  description = "Name of the model in Triton's repository (TRACKSCAN_TRITON_MODEL)."
  default     = "musicnn"
}

variable "partners" {
  type        = map(list(string))
  description = "Partner id => IAM members (serviceAccount:... or user:...) that may upload under gs://<ingest>/<partner id>/ and call the API."
  default     = {}
}

variable "partner_webhooks" {
  type        = map(string)
  description = "Partner id (a key of partners, or \"*\" for every partner without its own) => HTTPS URL its result events are POSTed to (TRACKSCAN_WEBHOOKS), signed with its secret in the <name_prefix>-webhook-secrets secret, which the operator fills (terraform/README.md, Results delivery). A partner without a webhook still has its results in BigQuery."
  default     = {}

  validation {
    condition     = alltrue([for url in values(var.partner_webhooks) : can(regex("^https://[^\\s,]+$", url))])
    error_message = "Every webhook must be an https:// URL without commas or spaces."
  }
}

variable "results_embedding" {
  type        = bool
  description = "Whether result events carry the track's embedding (TRACKSCAN_RESULTS_EMBEDDING): events 1.7 times larger (6.2 KB to 10.5 KB), for every webhook and BigQuery row."
  default     = false
}

variable "console_staff" {
  type        = map(string)
  description = "Support console staff: Google account e-mail => the partner id whose tracks they see, or \"*\" for every partner (TRACKSCAN_CONSOLE_IDENTITIES). Empty: the API serves no console."
  default     = {}
}

variable "segment_s" {
  type        = number
  description = "Seconds of audio per segment message (TRACKSCAN_SEGMENT_S): a typical track is one segment (no listings, one features and one predictions blob). A file of many channels at a high rate gets shorter segments (the decoder's memory: trackscan.pipeline.segment_plan)."
  default     = 300
}

variable "max_duration_s" {
  type        = number
  description = "Longest accepted track in seconds (TRACKSCAN_MAX_DURATION_S)."
  default     = 7200
}

variable "max_file_bytes" {
  type        = number
  description = "Largest accepted upload in bytes (TRACKSCAN_MAX_FILE_BYTES)."
  default     = 1073741824
}

variable "infer_batch_patches" {
  type        = number
  description = "Patches per Triton request (TRACKSCAN_INFER_BATCH_PATCHES): the longest segment (segment_s + 5 s, 101 patches) in one call, so the infer step waits at most one infer_timeout_s."
  default     = 104
}

variable "infer_timeout_s" {
  type        = number
  description = "Deadline of one Triton call in seconds (TRACKSCAN_INFER_TIMEOUT_S)."
  default     = 8
}

variable "log_level" {
  type        = string
  description = "Log level of the services (TRACKSCAN_LOG_LEVEL)."
  default     = "INFO"
}

variable "api_rate_per_s" {
  type        = number
  description = "Requests per second each partner may make to one API instance after a burst of api_burst (TRACKSCAN_API_RATE_PER_S); more answer 429 with Retry-After. Per instance: the service's max instances multiply it. 0 turns the limit off."
  default     = 10
}

variable "api_burst" {
  type        = number
  description = "Requests a partner may make at once to one API instance after a quiet spell (TRACKSCAN_API_BURST)."
  default     = 50
}

variable "console_session_secret_version" {
  type        = number
  description = "Version of the console's session secret: raise it to write a new random secret (signs every staff member out)."
  default     = 1
}

variable "reconcile_after_s" {
  type        = number
  description = "Seconds without an update after which an unfinished track counts as stalled and is replayed (TRACKSCAN_RECONCILE_AFTER_S); keep it far above the longest healthy step and the workers' clock skew."
  default     = 900
}

variable "reconcile_batch" {
  type        = number
  description = "Most stalled tracks one reconcile pass replays (TRACKSCAN_RECONCILE_BATCH); a larger backlog drains over several passes. Each replay waits for an object stat and a publish, so 100 keeps a pass within seconds."
  default     = 100
}

variable "reconcile_schedule" {
  type        = string
  description = "unix-cron schedule (UTC) of the reconcile pass; one pass a minute of reconcile_batch (100) tracks drains 6,000 stalled tracks an hour."
  default     = "* * * * *"
}

variable "scheduler_region" {
  type        = string
  description = "Cloud Scheduler region; null uses the region. Set it where the region does not offer Cloud Scheduler."
  default     = null
}

variable "max_instances" {
  type        = map(number)
  description = "Maximum Cloud Run instances per service, keyed by step name (a step of terraform/steps.json; one without an entry gets 100) plus dead_letter and api; caps cost and the load on Triton (infer) and Firestore. reconcile always runs on one instance."
  default = {
    ingest      = 20
    features    = 200
    infer       = 50
    finalize    = 20
    dead_letter = 5
    api         = 10
  }
}

variable "work_retention_days" {
  type        = number
  description = "Days after which the lifecycle rule deletes leftover work blobs."
  default     = 1
}

variable "run_egress_cidr" {
  type        = string
  description = "Range of the Cloud Run Direct VPC egress subnet; Triton's NetworkPolicy (inference/k8s/base/networkpolicy.yaml) admits exactly this range."
  default     = "10.40.0.0/24"
}

variable "firestore_location" {
  type        = string
  description = "Firestore location; null uses the region. Cannot change after creation."
  default     = null
}

variable "gke_location" {
  type        = string
  description = "GKE cluster location; null: zone <region>-b (a zonal cluster: its fee is covered by GKE's free tier). The region buys a regional control plane for $73 a month."
  default     = null
}

variable "system_machine_type" {
  type        = string
  description = "Machine type of the system node (kube-system, the metrics adapter)."
  default     = "e2-medium"
}

variable "system_spot" {
  type        = bool
  description = "Whether the system node is a spot VM (every other node is spot already; a reclaimed system node pauses autoscaling for a minute or two, nothing is lost)."
  default     = true
}

variable "gpu_machine_type" {
  type        = string
  description = "Machine type of the spot GPU pool."
  default     = "g2-standard-4"
}

variable "gpu_type" {
  type        = string
  description = "GPU attached to each GPU node (nvidia-l4 with g2-*, nvidia-tesla-t4 with n1-*)."
  default     = "nvidia-l4"
}

variable "gpu_max_nodes" {
  type        = number
  description = "Maximum spot GPU nodes; caps GPU spend. Keep Triton's HPA maxReplicas (inference/k8s/base/hpa.yaml) at or below it."
  default     = 4
}

variable "gpu_node_locations" {
  type        = list(string)
  description = "Zones of the GPU pool (zones that offer gpu_type: gcloud compute accelerator-types list); empty uses the cluster's zones."
  default     = []
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the cluster, the Cloud Run services and the Firestore database from deletion; false only for throwaway environments."
  default     = true
}

variable "release_source" {
  type = object({
    connection = string
    remote_uri = string
  })
  description = "Repository whose pushes to release_branch run cloudbuild.yaml: a Cloud Build (2nd gen) connection (projects/<p>/locations/<region>/connections/<name>, linked once to GitHub in the console) and the repository's clone URL (https://github.com/<org>/<repo>.git). null creates no trigger."
  default     = null
}

variable "release_branch" {
  type        = string
  description = "Branch (RE2 regular expression) whose pushes run a release."
  default     = "^main$"
}

variable "api_domains" {
  type        = list(string)
  description = "Domains to serve the partner API on through an external HTTPS load balancer with Cloud Armor (module api_edge); point their DNS A records at the api_edge_ip output. Empty keeps the API on its run.app URL only."
  default     = []
}

variable "api_rate_limit_per_minute" {
  type        = number
  description = "Requests a minute one client address may send through the load balancer; beyond, Cloud Armor answers 429."
  default     = 600
}

variable "notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) every alert goes to."
  default     = []
}

variable "alert_email" {
  type        = string
  description = "E-mail address alerts go to (a channel is created for it); null for none."
  default     = null
}

variable "worker_steps" {
  type        = list(string)
  description = "Steps (of terraform/steps.json) run by pull workers on GKE's spot CPU pool instead of their Cloud Run service: their subscription is pulled, not pushed, and Cloud Build deploys their workers (inference/k8s/workers). Not deliver, which reaches partners' webhooks on the internet and stays on Cloud Run."
  default     = []

  validation {
    condition     = !contains(var.worker_steps, "deliver")
    error_message = "deliver stays on Cloud Run: the GKE nodes have no route to partners' webhooks on the internet."
  }
}

variable "worker_machine_type" {
  type        = string
  description = "Machine type of the spot CPU pool that runs the pull workers; null picks the region's cheapest spot family with AMX (bf16 matrix units) that the cost model prices: n4-standard-4 in europe-west4, c3-standard-4 elsewhere."
  default     = null
}

variable "lane" {
  type        = string
  description = "How tracks are tagged: \"cloud-run\" (Cloud Run steps chained by Pub/Sub, the model on Triton on the spot GPU pool) or \"workers\" (every step on pull workers on the spot CPU pool, a track that fits whole_track_max_s tagged whole by one worker with the model in process; no GPU pool). terraform/README.md (Lanes) says which to pick at which volume."
  default     = "cloud-run"

  validation {
    condition     = contains(["cloud-run", "workers"], var.lane)
    error_message = "lane must be \"cloud-run\" or \"workers\"."
  }
}

variable "whole_track_max_s" {
  type        = number
  description = "Workers lane: tracks up to this many seconds are tagged whole by one worker (TRACKSCAN_WHOLE_TRACK_MAX_S); longer ones go through the segment chain on the same workers. benchmarks/bench_whole_track.py measures what fits the 10 s step budget."
  default     = 300
}

variable "worker_max_nodes" {
  type        = number
  description = "Maximum spot CPU nodes for the pull workers (caps their spend). docs/capacity.md gives what a weekly volume needs at its peak."
  default     = 10
}

variable "worker_max_pods" {
  type        = number
  description = "Most pull-worker pods of one step (each HPA's maxReplicas; Cloud Build passes it to inference/k8s/render_workers.py). docs/capacity.md gives what a weekly volume needs at its peak."
  default     = 20
}
