variable "project_id" {
  type        = string
  description = "Project of the deployer service account."
}

variable "account_id" {
  type        = string
  description = "Account id of the deployer service account."
  default     = "trackscan-deployer"
}

variable "runtime_service_account_names" {
  type        = map(string)
  description = "Service key => resource name (projects/<p>/serviceAccounts/<email>) of each Cloud Run runtime account the deployer may act as."
}

variable "artifact_registry_location" {
  type        = string
  description = "Region of the Artifact Registry repository."
}

variable "artifact_registry_repository" {
  type        = string
  description = "Name of the Artifact Registry repository the deployer pushes to."
}

variable "models_bucket_name" {
  type        = string
  description = "Bucket the deployer uploads model repositories to."
}
