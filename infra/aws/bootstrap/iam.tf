# Three CI roles, each with only what its jobs do:
#   plan   (any branch)        read everything (ReadOnlyAccess) + read state + take/release the state lock
#   apply  (deploy branch only) apply saved plans of the stacks: infra services in var.region, IAM limited
#                               to "${var.name_prefix}-*" names, never the CI roles or this bootstrap
#   deploy (deploy branch only) push + sign image and chart, describe the EKS cluster (the cluster's access
#                               entry grants Kubernetes rights), upload VM releases, roll them out via SSM

locals {
  state_bucket_arn   = aws_s3_bucket.state.arn
  releases_arn       = aws_s3_bucket.releases.arn
  stack_state_arns   = [for p in var.stack_state_prefixes : "${local.state_bucket_arn}/${p}/*"]
  stack_lock_arns    = [for p in var.stack_state_prefixes : "${local.state_bucket_arn}/${p}/*.tflock"]
  ci_role_arn_prefix = "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-ci-*"
  managed_name_arns = [
    "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-*",
    "arn:${local.partition}:iam::${local.account_id}:policy/${var.name_prefix}-*",
    "arn:${local.partition}:iam::${local.account_id}:instance-profile/${var.name_prefix}-*",
  ]
  read_only_policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

# ---------------------------------------------------------------------------------------------- plan

resource "aws_iam_role" "plan" {
  name                 = "${var.name_prefix}-ci-plan"
  description          = "CircleCI: terraform plan of every stack on every branch (read-only)"
  assume_role_policy   = data.aws_iam_policy_document.trust_any_branch.json
  max_session_duration = 3600
}

# Refreshing state reads every resource type the stacks use; AWS's ReadOnlyAccess is the maintained list.
resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = local.read_only_policy_arn
}

data "aws_iam_policy_document" "plan_state" {
  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }
  statement {
    sid       = "ReadStackState"
    actions   = ["s3:GetObject"]
    resources = local.stack_state_arns
  }
  # use_lockfile: plan takes the lock by writing <key>.tflock and removes it afterwards; nothing else.
  statement {
    sid       = "StateLockFile"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = local.stack_lock_arns
  }
  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state-read-and-lock"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan_state.json
}

# --------------------------------------------------------------------------------------------- apply

resource "aws_iam_role" "apply" {
  name                 = "${var.name_prefix}-ci-apply"
  description          = "CircleCI: terraform apply of an approved saved plan, ${var.deploy_branch} branch only"
  assume_role_policy   = data.aws_iam_policy_document.trust_deploy_branch.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "apply_read_only" {
  role       = aws_iam_role.apply.name
  policy_arn = local.read_only_policy_arn
}

data "aws_iam_policy_document" "apply" {
  # checkov:skip=CKV_AWS_356:Creating VPCs, instances, clusters and databases has no resource ARN before they exist; writes are pinned to var.region instead
  # checkov:skip=CKV_AWS_111:Same: infra writes are bounded by service list and region, IAM by name prefix, and explicit denies protect the CI roles and state
  # checkov:skip=CKV_AWS_109:Permissions management is limited to "${var.name_prefix}-*" IAM names the stacks own; the CI roles themselves are denied below
  # checkov:skip=CKV_AWS_107:No credentials are exposed: iam:PassRole is limited to the stacks' own roles
  # checkov:skip=CKV_AWS_108:Data exfiltration is bounded by region and the explicit denies; ReadOnlyAccess is needed for refresh anyway
  # checkov:skip=CKV_AWS_110:Privilege escalation is bounded by the deny on the CI roles and on attaching AWS admin policies; see README "Residual risk"

  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }
  statement {
    sid       = "ReadWriteStackState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = local.stack_state_arns
  }
  statement {
    sid       = "StateKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.state.arn]
  }

  # The services infra/aws/vm and infra/aws/eks manage, in var.region only.
  statement {
    sid = "RegionalInfrastructure"
    actions = [
      "acm:*",
      "autoscaling:*",
      "cloudwatch:*",
      "ec2:*",
      "ecr:*",
      "eks:*",
      "elasticloadbalancing:*",
      "events:*",
      "kms:*",
      "logs:*",
      "rds:*",
      "secretsmanager:*",
      "sns:*",
      "ssm:*",
      "wafv2:*",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  # Route 53 is global: records and validation for the service's domain.
  statement {
    sid = "DnsRecords"
    actions = [
      "route53:ChangeResourceRecordSets",
      "route53:GetChange",
      "route53:ListResourceRecordSets",
      "route53:ChangeTagsForResource",
    ]
    resources = [
      "arn:${local.partition}:route53:::hostedzone/*",
      "arn:${local.partition}:route53:::change/*",
    ]
  }

  # IAM is global: only the stacks' own "${var.name_prefix}-*" roles, policies and instance profiles.
  statement {
    sid = "StackIamByNamePrefix"
    actions = [
      "iam:AddRoleToInstanceProfile",
      "iam:AttachRolePolicy",
      "iam:CreateInstanceProfile",
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:CreateRole",
      "iam:DeleteInstanceProfile",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PassRole",
      "iam:PutRolePolicy",
      "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile",
      "iam:TagPolicy",
      "iam:TagRole",
      "iam:UntagInstanceProfile",
      "iam:UntagPolicy",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = local.managed_name_arns
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "autoscaling.amazonaws.com",
        "eks.amazonaws.com",
        "eks-nodegroup.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "rds.amazonaws.com",
      ]
    }
  }

  # Explicit denies win over every allow above: the pipeline can never edit its own roles, the OIDC trust,
  # the state bucket's protections or the state key, nor hand a stack role an AWS admin policy.
  statement {
    sid       = "DenyCiRoles"
    effect    = "Deny"
    actions   = ["iam:*"]
    resources = [local.ci_role_arn_prefix, "arn:${local.partition}:iam::${local.account_id}:oidc-provider/*"]
  }
  statement {
    sid    = "DenyAdminPolicies"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:PutRolePermissionsBoundary",
    ]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AdministratorAccess",
        "arn:${local.partition}:iam::aws:policy/IAMFullAccess",
        "arn:${local.partition}:iam::aws:policy/PowerUserAccess",
      ]
    }
  }
  statement {
    sid    = "DenyBootstrapKeys"
    effect = "Deny"
    actions = [
      "kms:ScheduleKeyDeletion",
      "kms:DisableKey",
      "kms:PutKeyPolicy",
      "kms:CreateGrant",
    ]
    resources = [aws_kms_key.state.arn, aws_kms_key.artifacts.arn, aws_kms_key.cosign.arn]
  }
  statement {
    sid       = "DenyBootstrapRepositories"
    effect    = "Deny"
    actions   = ["ecr:DeleteRepository", "ecr:PutImageTagMutability", "ecr:SetRepositoryPolicy", "ecr:DeleteLifecyclePolicy"]
    resources = [for r in aws_ecr_repository.this : r.arn]
  }
}

resource "aws_iam_policy" "apply" {
  name        = "${var.name_prefix}-ci-apply"
  description = "Apply approved Terraform plans of the shipshape stacks"
  policy      = data.aws_iam_policy_document.apply.json
}

resource "aws_iam_role_policy_attachment" "apply" {
  role       = aws_iam_role.apply.name
  policy_arn = aws_iam_policy.apply.arn
}

# -------------------------------------------------------------------------------------------- deploy

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-ci-deploy"
  description          = "CircleCI: publish, sign and deploy shipshape, ${var.deploy_branch} branch only"
  assume_role_policy   = data.aws_iam_policy_document.trust_deploy_branch.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
  # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "EcrPushPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [for r in aws_ecr_repository.this : r.arn]
  }
  statement {
    sid       = "CosignSign"
    actions   = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
    resources = [aws_kms_key.cosign.arn]
  }

  # update-kubeconfig only; what the role may do inside Kubernetes is the cluster's access entry (infra/aws/eks).
  statement {
    sid       = "EksDescribe"
    actions   = ["eks:DescribeCluster"]
    resources = ["arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.eks_cluster_name}"]
  }

  # Stack outputs (helm values, VM targets) come from the state, read-only.
  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }
  statement {
    sid       = "ReadStackState"
    actions   = ["s3:GetObject"]
    resources = local.stack_state_arns
  }
  statement {
    sid       = "StateKeyDecrypt"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.state.arn]
  }

  statement {
    sid       = "ListReleases"
    actions   = ["s3:ListBucket"]
    resources = [local.releases_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.release_prefix}*"]
    }
  }
  statement {
    sid       = "UploadReleases"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.releases_arn}/${local.release_prefix}*"]
  }
  # VM rollout: infra/aws/vm's own deploy document, on this project's VM instances only (default tags of
  # infra/aws/vm).
  statement {
    sid       = "SsmRunOnShipshapeVms"
    actions   = ["ssm:SendCommand"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = ["shipshape"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Stack"
      values   = ["aws/vm"]
    }
  }
  statement {
    sid       = "SsmDeployDocument"
    actions   = ["ssm:SendCommand"]
    resources = ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:document/${var.vm_deploy_document_name}"]
  }
  # Read-only calls without resource-level permissions (AWS requires "*").
  statement {
    sid = "SsmAndEc2Observe"
    actions = [
      "ec2:DescribeInstances",
      "ssm:DescribeInstanceInformation",
      "ssm:GetCommandInvocation",
      "ssm:ListCommandInvocations",
      "ssm:ListCommands",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "deploy" {
  name        = "${var.name_prefix}-ci-deploy"
  description = "Publish, sign and deploy shipshape"
  policy      = data.aws_iam_policy_document.deploy.json
}

resource "aws_iam_role_policy_attachment" "deploy" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.deploy.arn
}
