variable "name" {
  description = "Environment name, the prefix of every resource."
  type        = string
  default     = "cz-example"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "An existing VPC with private subnets that reach S3 (gateway endpoint) and the AWS APIs (NAT or interface endpoints)."
  type        = string
}

variable "subnet_ids" {
  description = "Three private subnets in three availability zones."
  type        = list(string)
}

variable "coordinator_ips" {
  description = "Three free private addresses, one in each subnet, for the coordinators."
  type        = list(string)
}

variable "coordinator_ami" {
  description = "Coordinator AMI (Amazon Linux 2023 with cz, jq and the AWS CLI)."
  type        = string
}

variable "executor_ami" {
  description = "Executor AMI (GPU: NVIDIA driver, CUDA, ONNX Runtime GPU, cz and the face models)."
  type        = string
}

variable "external_bucket_name" {
  description = "Name of the bucket shared with the external team."
  type        = string
}

variable "internal_bucket_name" {
  description = "Name of the pipeline's private bucket."
  type        = string
}

variable "content_bucket_url" {
  description = "The content-metadata table, s3://bucket/prefix (read only; owned elsewhere)."
  type        = string
}

variable "external_team_principals" {
  description = "ARNs of the external QC team's accounts or roles."
  type        = list(string)
}

variable "cluster_secret_arn" {
  description = "Secrets Manager secret with ca_pem, cert_pem, key_pem and token (made with cz certs; see docs/aws.md)."
  type        = string
}

variable "lambda_zip" {
  description = "Function package built by make lambda-zip."
  type        = string
  default     = "../../../bin/czlambda.zip"
}

variable "admin_cidrs" {
  description = "Operators' networks (VPN) allowed to the status page and the client API."
  type        = list(string)
  default     = []
}

variable "job_config" {
  description = "jobs.Config as JSON, without the buckets."
  type        = string
  default     = "{\"face\": {\"models_dir\": \"/opt/cz/models\", \"provider\": \"cuda\", \"fps\": 1}, \"partitions\": 16}"
}

variable "notify" {
  description = "Alert channels for rejected uploads."
  type = object({
    gchat_webhook = string
    smtp_addr     = string
    mail_from     = string
    mail_to       = string
  })
  sensitive = true
  default = {
    gchat_webhook = ""
    smtp_addr     = ""
    mail_from     = "cz@example.com"
    mail_to       = ""
  }
}
