terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.7, < 9.0"
    }
  }

  # State lives in a GCS bucket created once by hand (see terraform/README.md):
  #   terraform init -backend-config="bucket=<state bucket>"
  backend "gcs" {
    prefix = "trackscan/dev"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
