output "api_url" {
  description = "URL of the partner API."
  value       = module.api.uri
}

output "service_urls" {
  description = "URL of every Cloud Run service."
  value = {
    upload      = module.upload.uri
    features    = module.features.uri
    infer       = module.infer.uri
    finalize    = module.finalize.uri
    dead_letter = module.dead_letter.uri
    api         = module.api.uri
    reconcile   = module.reconcile.uri
  }
}

output "ingest_bucket_name" {
  description = "Bucket partners upload to, under their partner id."
  value       = module.buckets.ingest_bucket_name
}

output "work_bucket_name" {
  description = "Bucket of intermediate data."
  value       = module.buckets.work_bucket_name
}

output "models_bucket_name" {
  description = "Bucket of the Triton model repository."
  value       = module.buckets.models_bucket_name
}

output "triton_grpc_url" {
  description = "Triton's internal gRPC endpoint (TRITON_GRPC_URL)."
  value       = module.gke.triton_grpc_url
}

output "gke_cluster_name" {
  description = "Name of the GKE cluster running Triton."
  value       = module.gke.cluster_name
}

output "deployer_service_account_email" {
  description = "Service account to set on the Cloud Build trigger."
  value       = module.deployer.email
}

output "service_env" {
  description = "Environment variables every service gets (for trackscan CLI runs against this environment)."
  value       = local.service_env
}

output "cloudbuild_substitutions" {
  description = "Substitutions for cloudbuild.yaml (gcloud builds submit --substitutions=...)."
  value = {
    _REGION         = var.region
    _AR_REPOSITORY  = module.artifact_registry.repository_id
    _MODEL_BUCKET   = module.buckets.models_bucket_name
    _GKE_CLUSTER    = module.gke.cluster_name
    _GKE_LOCATION   = module.gke.cluster_location
    _SERVICE_PREFIX = local.name
  }
}
