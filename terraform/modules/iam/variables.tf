variable "name" {
  description = "Prefix of every resource name, such as cz-prod."
  type        = string
}

variable "external_bucket_arn" {
  description = "ARN of the external bucket."
  type        = string
}

variable "internal_bucket_arn" {
  description = "ARN of the internal bucket."
  type        = string
}

variable "content_bucket_arn" {
  description = "ARN of the content-metadata bucket (prod-ugc-contents), read only."
  type        = string
}

variable "executor_asg_arns" {
  description = "ARNs of the executor autoscaling groups the coordinators scale."
  type        = list(string)
}

variable "log_group_arns" {
  description = "CloudWatch log group ARNs, keyed by role: lambda_schedule, lambda_upload, coordinator, executor."
  type        = map(string)
}

variable "cluster_secret_arn" {
  description = "Secrets Manager secret with the cluster's TLS material and client token, read by coordinators and executors at boot and by the Lambdas at cold start."
  type        = string
}

variable "external_team_principals" {
  description = "AWS principals (account or role ARNs) of the external QC team allowed to assume its role."
  type        = list(string)
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
