# Planned values of the hardened bucket, with and without a KMS key, with and without access logging.

mock_provider "aws" {
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

variables {
  name                    = "example-state-123456789012-us-east-1"
  noncurrent_version_days = 90
}

run "kms_bucket_with_logging" {
  command = plan

  variables {
    kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    access_log_bucket = "example-logs-123456789012-us-east-1"
    access_log_prefix = "state/"
    expiration        = { prefix = "tmp/", days = 30 }
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "versioning must be on"
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "every public access block setting must be on"
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled"
  }
  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == var.kms_key_arn
    )
    error_message = "SSE-KMS with the given key"
  }
  assert {
    condition     = aws_s3_bucket_logging.this[0].target_bucket == var.access_log_bucket && aws_s3_bucket_logging.this[0].target_prefix == "state/"
    error_message = "access logs go to the log bucket under the prefix"
  }
  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Sid] == ["DenyInsecureTransport", "DenyWrongEncryptionKey", "DenyNonKmsEncryption"]
    error_message = "policy: TLS deny, then the two encryption denies"
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.this.policy).Statement[1].Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"] == var.kms_key_arn
    error_message = "puts with another key are denied"
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.this.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    error_message = "non-TLS requests are denied"
  }
  assert {
    condition = (
      length(aws_s3_bucket_lifecycle_configuration.this.rule) == 2 &&
      aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration[0].noncurrent_days == 90 &&
      aws_s3_bucket_lifecycle_configuration.this.rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 7 &&
      aws_s3_bucket_lifecycle_configuration.this.rule[1].expiration[0].days == 30 &&
      aws_s3_bucket_lifecycle_configuration.this.rule[1].filter[0].prefix == "tmp/" &&
      aws_s3_bucket_lifecycle_configuration.this.rule[1].abort_incomplete_multipart_upload[0].days_after_initiation == 7
    )
    error_message = "lifecycle: old versions and incomplete uploads, plus the optional expiration"
  }
  assert {
    condition     = output.arn == "arn:aws:s3:::example-state-123456789012-us-east-1"
    error_message = "the ARN is known at plan time"
  }
}

run "sse_s3_log_bucket" {
  command = plan

  variables {
    policy_statements = [{
      Sid       = "AllowS3LogDelivery"
      Effect    = "Allow"
      Principal = { Service = "logging.s3.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = "arn:aws:s3:::example-state-123456789012-us-east-1/*"
    }]
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "SSE-S3 without a key"
  }
  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0
    error_message = "no access logging without a target"
  }
  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Sid] == ["DenyInsecureTransport", "AllowS3LogDelivery"]
    error_message = "policy: TLS deny first, then the caller's statements"
  }
  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.this.rule) == 1
    error_message = "no expiration rule unless asked"
  }
}

run "rejects_alias_as_key" {
  command = plan
  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:alias/state"
  }
  expect_failures = [var.kms_key_arn]
}

run "rejects_bad_name" {
  command = plan
  variables {
    name = "Not_A_Bucket"
  }
  expect_failures = [var.name]
}
