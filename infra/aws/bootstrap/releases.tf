# VM releases (the shared release contract, docs/pipeline.md):
#   <release_prefix>releases/<version>/shipshape-linux-<arch>, .sha256, .sig   written once, by publish
#   <release_prefix>current.json, previous.json                                the release pointer, by deploy
# The VMs read both with their own instance role and install a binary only when its sha256 and its
# signature (the cosign KMS key, public half in output release_signing_public_key_pem) verify. The split
# is enforced here, in the bucket policy, for every principal in the account: whoever may move the
# pointer cannot write or sign a release, and whoever signs and uploads releases cannot move the pointer.
# Releases are write-once (S3 conditional writes: If-None-Match), so a signed release is never replaced.

locals {
  release_bucket_name = "${var.name}-releases-${local.account_id}-${var.region}"
  releases_bucket_arn = "arn:${local.partition}:s3:::${local.release_bucket_name}"
  release_prefix      = "shipshape/"
  release_objects_arn = "${local.releases_bucket_arn}/${local.release_prefix}releases/*"
  release_pointer_arns = [
    "${local.releases_bucket_arn}/${local.release_prefix}current.json",
    "${local.releases_bucket_arn}/${local.release_prefix}previous.json",
  ]
  object_write_actions = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:RestoreObject"]
}

module "releases_bucket" {
  source = "../../modules/s3-bucket"
  # SSE-S3: the VMs read with SigV4 and need no key grant; integrity comes from the signature, not secrecy.

  name                    = local.release_bucket_name
  access_log_bucket       = module.logs_bucket.name
  access_log_prefix       = "releases/"
  noncurrent_version_days = var.release_retention_days
  expiration              = { prefix = "${local.release_prefix}releases/", days = var.release_retention_days }

  policy_statements = [
    {
      Sid       = "OnlyPublishWritesReleases"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["s3:PutObject"]
      Resource  = local.release_objects_arn
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = local.role_arns.publish } }
    },
    # Write-once: a put must carry If-None-Match (fails if the key exists). Multipart part uploads cannot
    # carry the header; their CompleteMultipartUpload can and must (AWS: conditional-writes-enforce).
    {
      Sid       = "ReleasesAreWriteOnce"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["s3:PutObject"]
      Resource  = local.release_objects_arn
      Condition = {
        Null                    = { "s3:if-none-match" = "true" }
        StringNotEqualsIfExists = { "s3:ObjectCreationOperation" = ["CreateMultipartUpload", "UploadPart", "UploadPartCopy"] }
      }
    },
    # Releases leave only by the lifecycle rule (release_retention_days), never by a request.
    {
      Sid       = "NobodyDeletesReleases"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:RestoreObject"]
      Resource  = local.release_objects_arn
    },
    {
      Sid       = "OnlyDeployMovesThePointer"
      Effect    = "Deny"
      Principal = "*"
      Action    = local.object_write_actions
      Resource  = local.release_pointer_arns
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = local.role_arns.deploy } }
    },
    # Nothing else lives in this bucket.
    {
      Sid         = "NoOtherObjects"
      Effect      = "Deny"
      Principal   = "*"
      Action      = local.object_write_actions
      NotResource = concat([local.release_objects_arn], local.release_pointer_arns)
    },
  ]
}
