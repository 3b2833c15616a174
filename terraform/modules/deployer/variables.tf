variable "project_id" {
  type        = string
  description = "Project of the deployer service account and the trigger."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the account (<prefix>-deployer), its custom role and the trigger (<prefix>-release), so environments sharing a project do not collide."
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run services the deployer may deploy."
}

variable "service_names" {
  type        = map(string)
  description = "Service key => name of each Cloud Run service the deployer may deploy (roles/run.developer on that service only)."
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

variable "release_source" {
  type = object({
    connection = string
    remote_uri = string
  })
  description = "Repository the release trigger watches: a Cloud Build (2nd gen) connection (projects/<p>/locations/<region>/connections/<name>, linked once to GitHub in the console) and the repository's clone URL. null creates no trigger."
  default     = null
}

variable "release_branch" {
  type        = string
  description = "Branch (RE2 regular expression) whose pushes run a release."
  default     = "^main$"
}

variable "substitutions" {
  type        = map(string)
  description = "Substitutions the trigger passes to cloudbuild.yaml (the environment's names and places)."
  default     = {}
}
