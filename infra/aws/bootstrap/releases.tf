# Release binaries for the VM path: s3://<bucket>/<release_prefix><git-sha>/shipshape and .../shipshape.sha256,
# written by scripts/deploy-vm.sh, plus <release_prefix>current.json (what is deployed) and previous.json
# (the rollback target). Versioned and retained, so the previous release is always there to roll back to.
#
# infra/aws/vm's instances fetch binary_url anonymously (curl, then sha256 check). The bucket stays private
# and blocks public policies; reads are granted only through the VMs' S3 gateway endpoints
# (var.release_reader_vpce_ids, a condition AWS does not count as public). Anonymous reads cannot use
# SSE-KMS, hence SSE-S3 here; integrity comes from the sha256 the pipeline passes next to the URL.

locals {
  release_bucket_name = "${var.name_prefix}-releases-${local.account_id}-${var.region}"
  release_prefix      = "shipshape/"
}

resource "aws_s3_bucket" "releases" {
  bucket = local.release_bucket_name
  # checkov:skip=CKV_AWS_144:Release binaries are rebuilt from Git by the pipeline; replication adds cost, not safety
  # checkov:skip=CKV2_AWS_62:Rollouts are driven by the pipeline (SSM), not by bucket events
  # checkov:skip=CKV_AWS_145:VMs read releases anonymously through their VPC endpoint, which SSE-KMS cannot serve; sha256 is verified on install
}

resource "aws_s3_bucket_versioning" "releases" {
  bucket = aws_s3_bucket.releases.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "releases" {
  bucket = aws_s3_bucket.releases.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "releases" {
  bucket                  = aws_s3_bucket.releases.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "releases" {
  bucket = aws_s3_bucket.releases.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "releases" {
  bucket        = aws_s3_bucket.releases.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "releases/"
}

resource "aws_s3_bucket_lifecycle_configuration" "releases" {
  bucket = aws_s3_bucket.releases.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expire-old-releases"
    status = "Enabled"
    filter {
      prefix = local.release_prefix
    }
    expiration {
      days = var.release_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.release_retention_days
    }
  }
}

data "aws_iam_policy_document" "releases_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.releases.arn,
      "${aws_s3_bucket.releases.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = length(var.release_reader_vpce_ids) > 0 ? [1] : []
    content {
      sid       = "VmReadReleasesThroughVpcEndpoint"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.releases.arn}/${local.release_prefix}*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceVpce"
        values   = var.release_reader_vpce_ids
      }
    }
  }
}

resource "aws_s3_bucket_policy" "releases" {
  bucket = aws_s3_bucket.releases.id
  policy = data.aws_iam_policy_document.releases_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.releases]
}
