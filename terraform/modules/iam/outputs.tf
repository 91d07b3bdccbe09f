output "role_arns" {
  description = "Role ARNs by party: lambda_schedule, lambda_upload, coordinator, executor, external_team."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "instance_profiles" {
  description = "Instance profile names of the coordinators and the executors."
  value       = { for k, p in aws_iam_instance_profile.this : k => p.name }
}
