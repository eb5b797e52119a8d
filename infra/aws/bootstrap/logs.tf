# Server access logs of the state and release buckets: who read or wrote state and binaries, kept for
# audit. SSE-S3: S3 log delivery cannot write to SSE-KMS targets.

locals {
  logs_bucket_name = "${var.name}-s3-logs-${local.account_id}-${var.region}"
  logs_bucket_arn  = "arn:${local.partition}:s3:::${local.logs_bucket_name}"
}

module "logs_bucket" {
  source = "../../modules/s3-bucket"

  name                    = local.logs_bucket_name
  noncurrent_version_days = 30
  expiration              = { prefix = "", days = var.log_retention_days }

  # Only S3's log delivery, and only for this account's two buckets, may write here.
  policy_statements = [{
    Sid       = "AllowS3LogDelivery"
    Effect    = "Allow"
    Principal = { Service = "logging.s3.amazonaws.com" }
    Action    = "s3:PutObject"
    Resource  = "${local.logs_bucket_arn}/*"
    Condition = {
      StringEquals = { "aws:SourceAccount" = local.account_id }
      ArnLike      = { "aws:SourceArn" = [local.state_bucket_arn, local.releases_bucket_arn] }
    }
  }]
}
