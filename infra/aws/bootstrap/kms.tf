# Three customer-managed keys, one per purpose, so a key policy or a rotation never couples unrelated data:
# state (Terraform state, may hold secrets), artifacts (ECR images and charts), cosign (the signing key of
# images, charts and VM releases). The state and artifacts keys delegate to IAM (account root), and the
# roles' IAM policies name them. The cosign key does not: its key policy names the only principal that may
# sign (the publish role), so no IAM policy in the account, however broad, can grant kms:Sign with it.

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

  # Every key operation except using the key to sign: administrators keep the key manageable.
  cosign_admin_actions = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
    "kms:EnableKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants",
    "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]
}

resource "aws_kms_key" "state" {
  description             = "${var.name}: Terraform state bucket"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_policy_root]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name}-state"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_kms_key" "artifacts" {
  description             = "${var.name}: ECR images and charts"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_policy_root]
  })
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.name}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

# Signs image and chart digests (cosign sign --key awskms:///...) and VM release binaries (cosign
# sign-blob): only the publish role may sign; anyone in the account with IAM permission may read the public
# key (cosign verify, the VM stacks' boot configuration).
resource "aws_kms_key" "cosign" {
  description              = "${var.name}: cosign signing key (images, charts, VM releases)"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.kms_deletion_window_days
  # checkov:skip=CKV_AWS_7:KMS cannot rotate asymmetric keys; rotate by creating a new key, re-signing and updating the VMs' public key
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersWithoutSigning"
        Effect    = "Allow"
        Principal = { AWS = local.root_arn }
        Action    = local.cosign_admin_actions
        Resource  = "*"
      },
      {
        Sid       = "AccountReadsPublicKey"
        Effect    = "Allow"
        Principal = { AWS = local.root_arn }
        Action    = ["kms:GetPublicKey", "kms:Verify"]
        Resource  = "*"
      },
      {
        Sid       = "OnlyPublishSigns"
        Effect    = "Allow"
        Principal = { AWS = local.role_arns.publish }
        Action    = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
        Resource  = "*"
      },
    ]
  })

  # The key policy names the publish role: IAM rejects a policy whose principal does not exist yet.
  depends_on = [aws_iam_role.publish]
}

resource "aws_kms_alias" "cosign" {
  name          = "alias/${var.name}-cosign"
  target_key_id = aws_kms_key.cosign.key_id
}

# The public half of the signing key, for the VM stacks' boot configuration (they verify releases with it).
data "aws_kms_public_key" "cosign" {
  key_id = aws_kms_key.cosign.arn
}
