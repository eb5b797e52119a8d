# Three customer-managed keys, one per purpose, so a key policy or a rotation never couples unrelated data:
# state (Terraform state, may hold secrets), artifacts (ECR images and charts), cosign (image
# signatures). Key policies delegate to IAM (account root), and the roles' IAM policies name each key.

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"

  # Delegating key administration and use to IAM is what makes the roles' own policies authoritative.
  key_policy_root = {
    Sid       = "AccountAdministersThroughIAM"
    Effect    = "Allow"
    Principal = { AWS = local.root_arn }
    Action    = "kms:*"
    Resource  = "*"
  }
}

resource "aws_kms_key" "state" {
  description             = "${var.name_prefix}: Terraform state bucket"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_policy_root]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name_prefix}-state"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_kms_key" "artifacts" {
  description             = "${var.name_prefix}: ECR images and charts"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_policy_root]
  })
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.name_prefix}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

# cosign signs image digests with this key (cosign sign --key awskms:///alias/shipshape-cosign); only the
# deploy role may sign, anyone in the account may fetch the public key to verify.
resource "aws_kms_key" "cosign" {
  description              = "${var.name_prefix}: cosign image signing key"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.kms_deletion_window_days
  # checkov:skip=CKV_AWS_7:KMS cannot rotate asymmetric keys; rotate by creating a new key and re-signing
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_policy_root]
  })
}

resource "aws_kms_alias" "cosign" {
  name          = "alias/${var.name_prefix}-cosign"
  target_key_id = aws_kms_key.cosign.key_id
}
