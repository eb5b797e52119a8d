# The Terraform state bucket every stack's S3 backend uses (use_lockfile = true: the lock is an object next
# to the state, <key>.tflock, so no DynamoDB table). Versioned, so every state write can be undone; SSE-KMS
# with the state key, and the bucket policy refuses any put encrypted otherwise (modules/s3-bucket).

locals {
  state_bucket_name = "${var.name}-tfstate-${local.account_id}-${var.region}"
  state_bucket_arn  = "arn:${local.partition}:s3:::${local.state_bucket_name}"
}

module "state_bucket" {
  source = "../../modules/s3-bucket"

  name                    = local.state_bucket_name
  kms_key_arn             = aws_kms_key.state.arn
  access_log_bucket       = module.logs_bucket.name
  access_log_prefix       = "state/"
  noncurrent_version_days = var.state_noncurrent_version_days
}
