output "external_bucket" {
  description = "Bucket to give the external team (with the external_team role)."
  value       = module.buckets.external_bucket
}

output "external_team_role_arn" {
  description = "Role the external team assumes to upload and read."
  value       = module.iam.role_arns["external_team"]
}

output "coordinator_api_addrs" {
  description = "Where cz submit/status/cancel connect (--coordinators)."
  value       = module.cluster.coordinator_api_addrs
}

output "status_urls" {
  description = "The coordinators' status pages (through the VPN)."
  value       = module.cluster.status_urls
}

output "function_names" {
  description = "The Lambdas: schedule and upload."
  value       = module.triggers.function_names
}

output "executor_groups" {
  description = "Executor autoscaling groups: spot and ondemand."
  value       = module.cluster.executor_asg_names
}
