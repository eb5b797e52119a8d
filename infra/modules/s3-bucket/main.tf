# One hardened S3 bucket: versioned, encrypted, private (public access block, ACLs disabled), TLS only,
# access-logged, with lifecycle rules for old versions and incomplete uploads, and a bucket policy that
# always starts with the module's own guards. The bootstrap uses it for state, releases and logs.

locals {
  arn = "arn:${data.aws_partition.current.partition}:s3:::${var.name}"

  guard_statements = concat(
    [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.arn, "${local.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }],
    # Objects must be written with this bucket's key: neither unencrypted nor with another key.
    var.kms_key_arn == null ? [] : [
      {
        Sid       = "DenyWrongEncryptionKey"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = var.kms_key_arn } }
      },
      {
        Sid       = "DenyNonKmsEncryption"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
      },
    ],
  )
}

data "aws_partition" "current" {}

resource "aws_s3_bucket" "this" {
  bucket = var.name
  # checkov:skip=CKV_AWS_144:Cross-region replication is a per-team disaster-recovery choice; versioning covers loss and tampering here
  # checkov:skip=CKV2_AWS_62:Nothing consumes object events from these buckets
  # checkov:skip=CKV_AWS_18:Access logging is on for every bucket but the log bucket itself (access_log_bucket), which cannot log into itself
  # checkov:skip=CKV_AWS_145:SSE-KMS whenever kms_key_arn is set; SSE-S3 only where S3 log delivery or anonymous readers require it

  # Every bucket made with this module holds history someone relies on (state, releases, audit logs).
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = var.access_log_prefix
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "old-versions-and-incomplete-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  dynamic "rule" {
    for_each = var.expiration == null ? [] : [var.expiration]
    content {
      id     = "expire-current-objects"
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }
      expiration {
        days = rule.value.days
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 7
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.guard_statements, var.policy_statements)
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}
