locals {
  log_group_arns = [for g in var.log_groups : "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${g}"]
  # Exact names are matched exactly; a wildcard needs the pattern operator.
  arn_operator = anytrue([for g in var.log_groups : strcontains(g, "*") || strcontains(g, "?")]) ? "ArnLike" : "ArnEquals"

  policy = {
    Version = "2012-10-17"
    Statement = [
      # The account delegates key use to IAM and keeps administration (AWS's default key policy): without
      # it the key becomes unmanageable. In a key policy "*" as the resource means this key.
      {
        Sid       = "AccountDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUse"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt*",         # write log events
          "kms:Decrypt*",         # read them back (console, Logs Insights)
          "kms:ReEncrypt*",       # key rotation
          "kms:GenerateDataKey*", # envelope keys for new data
          "kms:Describe*",        # Logs validates the key when the group is associated
        ]
        Resource = "*"
        # Only for the caller's log groups, not any log group in the account: CloudWatch Logs puts the
        # group's ARN in the encryption context.
        Condition = {
          (local.arn_operator) = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arns }
        }
      },
    ]
  }
}

resource "aws_kms_key" "this" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; the account root keeps administration so the key can never become unmanageable.
  #checkov:skip=CKV_AWS_111:Same: key policies are scoped to their key, and the root statement is AWS's required default.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = jsonencode(local.policy)
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
