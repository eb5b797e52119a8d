output "name" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.bucket
}

output "id" {
  description = "Bucket id (its name), for resources that take `bucket`."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "Bucket ARN, built from the name so that it is known at plan time."
  value       = local.arn
}

output "regional_domain_name" {
  description = "Regional endpoint host of the bucket (<name>.s3.<region>.amazonaws.com)."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "policy" {
  description = "The bucket policy document (JSON) as applied."
  value       = aws_s3_bucket_policy.this.policy
}
