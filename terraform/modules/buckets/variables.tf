variable "name" {
  description = "Prefix of every resource name, such as cz-prod."
  type        = string
}

variable "external_bucket_name" {
  description = "Bucket shared with the external QC team: ground-truth uploads, zone lists, predicted and validated data."
  type        = string
}

variable "internal_bucket_name" {
  description = "Bucket private to the pipeline: faces, embeddings, metadata, intermediate data, index versions, job logs."
  type        = string
}

variable "noncurrent_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30
}

variable "abort_multipart_days" {
  description = "Days after which an incomplete multipart upload is aborted."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
