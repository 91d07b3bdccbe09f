output "coordinator_api_addrs" {
  description = "The coordinators' gRPC addresses (CZ_COORDINATORS of the Lambdas, --coordinators of cz submit)."
  value       = local.api_addrs
}

output "status_urls" {
  description = "The coordinators' status pages."
  value       = [for c in local.coordinators : "http://${c.ip}:${var.ports.status}"]
}

output "executor_asg_names" {
  description = "Executor group names: spot and ondemand."
  value       = { for k, g in aws_autoscaling_group.executor : k => g.name }
}

output "security_group_ids" {
  description = "Security groups of the coordinators and the executors."
  value       = local.cluster_sgs
}

output "log_group_arns" {
  description = "Log group ARNs of the coordinators and the executors."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "executor_asg_arns" {
  description = "Executor group ARNs (the coordinators may set their desired capacity)."
  value       = [for g in aws_autoscaling_group.executor : g.arn]
}
