terraform {
  required_version = ">= 1.5"

  # The root pins one exact provider version (the modules accept any 8.x from 8.7): the one
  # tests/infra checks the configuration against. .terraform.lock.hcl records its checksums once
  # someone with access to registry.terraform.io runs `make tf-lock` (see terraform/README.md).
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "8.7.0"
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
