output "principals" {
  description = "Step => Workload Identity principal of its workers' Kubernetes service account."
  value       = local.principal
}
