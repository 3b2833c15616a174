variable "project_id" {
  type        = string
  description = "Project of the grants."
}

variable "principal_prefix" {
  type        = string
  description = "Workload Identity Federation principal prefix of the cluster's project (module gke's workload_identity_principal_prefix)."
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the workers (inference/k8s/workers); each step's account is worker-<step> there."
}

variable "steps" {
  type = map(object({
    subscription_name   = string
    publish_topic_names = list(string)
    bucket_roles = list(object({
      bucket = string
      role   = string
    }))
  }))
  description = "Step run on workers => its subscription, the topics it publishes to and its bucket roles (the grants of its Cloud Run service)."
}

variable "firestore_database" {
  type        = string
  description = "Resource name (projects/<p>/databases/<id>) of trackscan's Firestore database; roles/datastore.user is limited to it by an IAM condition."
}
