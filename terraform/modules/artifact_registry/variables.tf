variable "project_id" {
  type        = string
  description = "Project that owns the repository."
}

variable "location" {
  type        = string
  description = "Region of the repository (the Cloud Run region)."
}

variable "repository_id" {
  type        = string
  description = "Repository name, the last path element of <location>-docker.pkg.dev/<project>/<repository>."
}

variable "keep_recent_versions" {
  type        = number
  description = "Number of most recent image versions the cleanup policy always keeps, so a rollback target survives."
  default     = 20
}

variable "labels" {
  type        = map(string)
  description = "Labels applied to the repository."
  default     = {}
}
