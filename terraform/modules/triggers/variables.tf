variable "name" {
  description = "Prefix of every resource name, such as cz-prod."
  type        = string
}

variable "lambda_zip" {
  description = "Path of the function package: a zip holding the bootstrap binary (make lambda-zip)."
  type        = string
}

variable "role_arns" {
  description = "Execution role ARNs: lambda_schedule and lambda_upload."
  type        = map(string)
}

variable "external_bucket" {
  description = "Name of the external bucket, whose zone-list uploads trigger the upload function."
  type        = string
}

variable "external_bucket_arn" {
  description = "ARN of the external bucket."
  type        = string
}

variable "bucket_urls" {
  description = "Bucket URLs of the runners (s3://bucket/prefix): external, internal, content."
  type = object({
    external = string
    internal = string
    content  = string
  })
}

variable "job_config" {
  description = "The runners' configuration besides the buckets (jobs.Config as JSON: face models, filter, partitions)."
  type        = string
  default     = "{}"
}

variable "daily_schedule" {
  description = "EventBridge schedule of the Daily Runner (6-field cron with a year field, in UTC)."
  type        = string
  default     = "cron(30 20 * * ? *)"
}

variable "time_zone" {
  description = "IANA time zone in which the Daily Runner's target date is yesterday."
  type        = string
  default     = "Asia/Kolkata"
}

variable "coordinator_api_addrs" {
  description = "The coordinators' gRPC addresses, comma-separated."
  type        = string
}

variable "cluster_secret_arn" {
  description = "Secrets Manager secret (JSON with ca_pem and token, the cluster's) from which the functions read the coordinators' CA and client token at cold start."
  type        = string
}

variable "status_url" {
  description = "Status page address for links in alerts."
  type        = string
  default     = ""
}

variable "notify" {
  description = "Alert channels: gchat_webhook, smtp_addr, mail_from, mail_to (comma-separated); empty strings switch one off."
  type = object({
    gchat_webhook = string
    smtp_addr     = string
    mail_from     = string
    mail_to       = string
  })
  sensitive = true
}

variable "subnet_ids" {
  description = "Private subnets the functions run in (they reach the coordinators' private addresses)."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the functions' security group."
  type        = string
}

variable "api_port" {
  description = "The coordinators' gRPC port."
  type        = number
  default     = 7001
}

variable "log_group_names" {
  description = "CloudWatch log group names of the functions: schedule, upload. Lambda logs to /aws/lambda/<function> unless told otherwise."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the functions' logs."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
