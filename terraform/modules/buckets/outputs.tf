output "external_bucket" {
  description = "Name of the external bucket."
  value       = aws_s3_bucket.this["external"].id
}

output "external_bucket_arn" {
  description = "ARN of the external bucket."
  value       = aws_s3_bucket.this["external"].arn
}

output "internal_bucket" {
  description = "Name of the internal bucket."
  value       = aws_s3_bucket.this["internal"].id
}

output "internal_bucket_arn" {
  description = "ARN of the internal bucket."
  value       = aws_s3_bucket.this["internal"].arn
}
