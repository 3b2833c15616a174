output "api_url" {
  description = "URL of the partner API."
  value       = module.api.uri
}

output "api_edge_ip" {
  description = "Address of the API's load balancer (the api_domains' DNS A record); null without api_domains."
  value       = local.api_edge ? module.api_edge[0].ip_address : null
}

output "api_edge_url" {
  description = "URL of the API through the load balancer and Cloud Armor; null without api_domains."
  value       = local.api_edge ? module.api_edge[0].url : null
}

output "service_urls" {
  description = "Service => URL of every Cloud Run service: the steps by step name, then dead_letter, api, reconcile."
  value = merge(
    { for step, service in module.step_service : step => service.uri },
    {
      dead_letter = module.dead_letter.uri
      api         = module.api.uri
      reconcile   = module.reconcile.uri
    },
  )
}

output "topic_names" {
  description = "Step name => name of the topic the step consumes."
  value       = module.messaging.topic_names
}

output "subscription_names" {
  description = "Step name => name of the step's subscription (pushed to its service, or pulled by its workers)."
  value       = { for step, subscription in module.step_subscription : step => subscription.subscription_name }
}

output "dead_letter_subscription_names" {
  description = "Step name => name of the subscription that pushes the step's dead letters to the dead-letter service."
  value       = { for step, subscription in module.step_subscription : step => subscription.dead_letter_subscription_name }
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
  description = "Service account Cloud Build releases run as (the trigger sets it; gcloud builds submit --service-account for a release by hand)."
  value       = module.deployer.email
}

output "deployer_service_account_id" {
  description = "Resource name of the deployer account (gcloud builds submit --service-account=...)."
  value       = module.deployer.service_account_id
}

output "release_trigger_name" {
  description = "Cloud Build trigger that runs cloudbuild.yaml on every push to release_branch; null without release_source."
  value       = module.deployer.trigger_name
}

output "service_env" {
  description = "Environment variables every service gets (for trackscan CLI runs against this environment)."
  value       = local.service_env
}

output "cloudbuild_substitutions" {
  description = "Substitutions for cloudbuild.yaml (gcloud builds submit --substitutions=...); the trigger passes the same."
  value       = local.cloudbuild_substitutions
}

output "dashboard_id" {
  description = "The environment's Cloud Monitoring dashboard."
  value       = module.monitoring.dashboard_id
}

output "alert_policy_names" {
  description = "Alert => resource name of its policy (dead_letters, oldest_unacked, server_errors, triton_unavailable, tracks_failed)."
  value       = module.monitoring.alert_policy_names
}

output "results_table" {
  description = "BigQuery table of the result events, as SQL names it (<project>.<dataset>.track_finished); at least once: dedupe by event_id."
  value       = module.results_bigquery.table
}

output "webhook_secrets_secret_id" {
  description = "Secret Manager secret of the partners' webhook signing secrets (TRACKSCAN_WEBHOOK_SECRETS), read by the deliver service only: gcloud secrets versions add it."
  value       = google_secret_manager_secret.webhook_secrets.secret_id
}
