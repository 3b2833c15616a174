variable "project_id" {
  type        = string
  description = "Project of the service and its service account."
}

variable "region" {
  type        = string
  description = "Cloud Run region."
}

variable "name" {
  type        = string
  description = "Service name; also the service account id (first 30 characters), so keep it unique per project."
}

variable "description" {
  type        = string
  description = "Human-readable purpose of the service."
  default     = ""
}

variable "function_target" {
  type        = string
  description = "Python function functions-framework serves (env FUNCTION_TARGET): a step's entrypoint (its name, e.g. features), or dead_letter, api, reconcile."
}

variable "image" {
  type        = string
  description = "Container image for the first deployment; later images are rolled out by Cloud Build and ignored here."
}

variable "env" {
  type        = map(string)
  description = "Environment variables of the container (the cloud-scope settings of trackscan.domain.config)."
  default     = {}
}

variable "secret_env" {
  type        = map(string)
  description = "Environment variables read from Secret Manager: name to the secret's id (projects/<p>/secrets/<name>), latest version. The service account needs roles/secretmanager.secretAccessor on each."
  default     = {}
}

variable "ingress" {
  type        = string
  description = "INGRESS_TRAFFIC_INTERNAL_ONLY for Pub/Sub-driven workers; INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_ALL for a public API."
  default     = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be one of INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "concurrency" {
  type        = number
  description = "Maximum concurrent requests per instance; 1 for CPU-bound steps so one message owns the CPU."
  default     = 1
}

variable "timeout_s" {
  type        = number
  description = "Request timeout in seconds. Steps are designed to finish in 10 s; the timeout bounds a stuck one well inside the 60 s ack deadline."
  default     = 30
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm (0 scales to zero)."
  default     = 0
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances; caps cost and the load this step puts on its dependencies. null means the default."
  default     = 100
  nullable    = false
}

variable "cpu" {
  type        = string
  description = "vCPU limit per instance (\"1\", \"2\", \"4\" or \"8\")."
  default     = "1"
}

variable "memory" {
  type        = string
  description = "Memory limit per instance, e.g. \"2Gi\"."
  default     = "1Gi"
}

variable "vpc_egress_subnetwork" {
  type        = string
  description = "Name of the subnet (in the service's region) for Direct VPC egress; only the infer service needs it, to reach Triton. null for none."
  default     = null
}

variable "invoker_members" {
  type        = map(string)
  description = "Static label => IAM member granted roles/run.invoker on this service (the push subscription identity, or partner identities for the API)."
  default     = {}
}

variable "firestore_database" {
  type        = string
  description = "Resource name (projects/<p>/databases/<id>) of the Firestore database the service reads and writes; null for none. Firestore has no per-database IAM policy, so roles/datastore.user is granted on the project with an IAM condition that limits it to this database."
  default     = null
}

variable "bucket_roles" {
  type = list(object({
    bucket = string
    role   = string
  }))
  description = "Bucket-level roles of the service account."
  default     = []
}

variable "publish_topic_names" {
  type        = list(string)
  description = "Names of the topics (in the service's project) the service may publish to."
  default     = []
}

variable "sign_urls" {
  type        = bool
  description = "Whether the service signs V4 URLs with its own identity (grants token creator on itself only)."
  default     = false
}

variable "deletion_protection" {
  type        = bool
  description = "Whether Terraform refuses to destroy the service."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels of the service and its revisions."
  default     = {}
}
