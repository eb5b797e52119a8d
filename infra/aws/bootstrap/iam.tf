# Four CI roles, each with only what its jobs do, and the permissions boundary of every role the stacks
# create. README "Roles and what they can do" states the capabilities; tests/infra/test_aws_bootstrap_iam.py
# proves them on the planned policies.
#
#   plan    (any branch, plan context)                 refresh reads, state read + lock
#   apply   (deploy branch, apply context, approval)    apply saved plans; creates only roles that carry
#                                                       the stack boundary
#   publish (deploy branch or release tag, publish ctx) push images/charts, sign (cosign key), upload
#                                                       releases once
#   deploy  (deploy branch or release tag, deploy ctx)  verify signatures, Helm deploy, move the VM release
#                                                       pointer, SSM rollout
#
# Everything named "<name>-ci-*" (these roles, their policies, the boundary) is out of reach of every CI
# role; "<name>-*" IAM objects belong to the stacks and are what apply manages.

locals {
  iam_arn = "arn:${local.partition}:iam::${local.account_id}"

  role_arns = { for r in ["plan", "apply", "publish", "deploy"] : r => "${local.iam_arn}:role/${var.name}-ci-${r}" }
  # Policy ARNs from their names, so attachments (and the tests) see them at plan time.
  ci_policy_arns = { for p in ["guardrails", "stack-read", "plan", "apply", "publish", "deploy", "stack-boundary"] : p => "${local.iam_arn}:policy/${var.name}-ci-${p}" }
  boundary_arn   = local.ci_policy_arns["stack-boundary"]

  # The pipeline's own identity: no CI role may change it, nor the trust anchors (OIDC/SAML providers).
  pipeline_identity_arns = [
    "${local.iam_arn}:role/${var.name}-ci-*",
    "${local.iam_arn}:policy/${var.name}-ci-*",
    "${local.iam_arn}:instance-profile/${var.name}-ci-*",
    "${local.iam_arn}:oidc-provider/*",
    "${local.iam_arn}:saml-provider/*",
  ]
  stack_role_arns             = "${local.iam_arn}:role/${var.name}-*"
  stack_instance_profile_arns = "${local.iam_arn}:instance-profile/${var.name}-*"

  # The only services a stack role may be passed to (iam:PassedToService): EC2 instance profiles (VM,
  # EKS nodes), the EKS cluster, EKS Pod Identity, RDS Enhanced Monitoring, VPC flow logs.
  pass_role_services = [
    "ec2.amazonaws.com",
    "eks.amazonaws.com",
    "pods.eks.amazonaws.com",
    "monitoring.rds.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
  ]

  stack_state_objects = [for p in var.stack_state_prefixes : "${local.state_bucket_arn}/${p}/*"]
  stack_state_files   = [for p in var.stack_state_prefixes : "${local.state_bucket_arn}/${p}/terraform.tfstate"]
  stack_lock_files    = [for p in var.stack_state_prefixes : "${local.state_bucket_arn}/${p}/terraform.tfstate.tflock"]

  bootstrap_key_arns   = [aws_kms_key.state.arn, aws_kms_key.artifacts.arn, aws_kms_key.cosign.arn]
  bootstrap_alias_arns = [for a in ["state", "artifacts", "cosign"] : "arn:${local.partition}:kms:${var.region}:${local.account_id}:alias/${var.name}-${a}"]
  in_region            = { StringEquals = { "aws:RequestedRegion" = var.region } }

  # What scripts/publish.sh and scripts/deploy-eks.sh call (tests/infra/test_aws_pipeline_iam.py): pull an
  # image or chart (also cosign's signature tags) and look a tag's digest up.
  ecr_pull_actions = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]
}

# ------------------------------------------------------------------------------------- shared denies

# Attached to all four roles. Explicit denies win over any allow, now or added later.
resource "aws_iam_policy" "guardrails" {
  name        = "${var.name}-ci-guardrails"
  description = "No CI role may change the pipeline's identity, create unbounded roles, or chain into other roles"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyWritesToPipelineIdentity"
        Effect    = "Deny"
        NotAction = ["iam:Get*", "iam:List*"]
        Resource  = local.pipeline_identity_arns
      },
      {
        Sid    = "DenyRolesWithoutStackBoundary"
        Effect = "Deny"
        Action = [
          "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
          "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
        ]
        Resource  = "*"
        Condition = { StringNotEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }
      },
      {
        Sid      = "DenyBoundaryRemovalAndIamUsers"
        Effect   = "Deny"
        Action   = ["iam:DeleteRolePermissionsBoundary", "iam:*User*", "iam:*Group*", "iam:*AccessKey*", "iam:*LoginProfile*"]
        Resource = "*"
      },
      # Same-account trust policies may name a role directly; an identity deny stops chaining regardless.
      {
        Sid      = "DenyRoleChaining"
        Effect   = "Deny"
        Action   = ["sts:AssumeRole", "sts:GetFederationToken"]
        Resource = "*"
      },
      # Only apply creates aliases and access entries; these denies hold for every CI role (and keep the
      # apply policy within IAM's 6,144-character limit). The bootstrap's aliases are never re-pointed.
      {
        Sid      = "DenyBootstrapAliases"
        Effect   = "Deny"
        Action   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
        Resource = local.bootstrap_alias_arns
      },
      # Kubernetes RBAC is the cluster's access entries: apply writes them for the deploy role and people,
      # never for the plan, apply or publish role.
      {
        Sid       = "DenyClusterAccessForCiRoles"
        Effect    = "Deny"
        Action    = ["eks:CreateAccessEntry"]
        Resource  = "*"
        Condition = { ArnLike = { "eks:principalArn" = [local.role_arns.plan, local.role_arns.apply, local.role_arns.publish] } }
      },
      {
        Sid      = "DenyClusterPoliciesForCiRoles"
        Effect   = "Deny"
        Action   = ["eks:AssociateAccessPolicy", "eks:UpdateAccessEntry"]
        Resource = [for r in ["plan", "apply", "publish"] : "arn:${local.partition}:eks:*:${local.account_id}:access-entry/*/role/${local.account_id}/${var.name}-ci-${r}/*"]
      },
    ]
  })
}

# Refresh reads for plan and apply: describe/list/get of the services the stacks manage, minus the data
# reads a refresh never needs (ViewOnlyAccess plus the Get* calls Terraform makes).
resource "aws_iam_policy" "stack_read" {
  name        = "${var.name}-ci-stack-read"
  description = "Refresh reads of the shipshape stacks, without data reads"
  # checkov:skip=CKV_AWS_355:Describe/Get/List of resources the stacks create (ids unknown in advance); data reads are denied below
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "RefreshReads"
        Effect = "Allow"
        Action = [
          "acm:Describe*", "acm:Get*", "acm:List*", "aps:Describe*", "aps:Get*", "aps:List*", "autoscaling:Describe*",
          "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*", "ec2:Describe*", "ec2:Get*", "eks:Describe*",
          "eks:List*", "elasticloadbalancing:Describe*", "iam:Get*", "iam:List*", "kms:Describe*", "kms:Get*", "kms:List*",
          "logs:Describe*", "logs:Get*", "logs:List*", "rds:Describe*", "rds:List*", "route53:Get*", "route53:List*",
          "s3:Get*", "s3:List*", "secretsmanager:Describe*", "secretsmanager:Get*", "secretsmanager:List*",
          "ssm:Describe*", "ssm:Get*", "ssm:List*", "wafv2:Describe*", "wafv2:Get*", "wafv2:List*",
        ]
        Resource = "*"
      },
      {
        Sid      = "WhoAmI"
        Effect   = "Allow"
        Action   = ["sts:GetCallerIdentity"]
        Resource = "*"
      },
      {
        Sid         = "DenyObjectReadsOutsideState"
        Effect      = "Deny"
        Action      = ["s3:GetObject*"]
        NotResource = local.stack_state_objects
      },
      # Public AMI ids (/aws/service/...) are the only parameters a stack reads.
      {
        Sid         = "DenyParameterReads"
        Effect      = "Deny"
        Action      = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
        NotResource = "arn:${local.partition}:ssm:*::parameter/aws/service/*"
      },
      {
        Sid    = "DenyDataReads"
        Effect = "Deny"
        Action = [
          "aps:GetLabels", "aps:GetMetricMetadata", "aps:GetSeries", "aps:QueryMetrics",
          "ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot", "ec2:GetLaunchTemplateData", "ec2:GetPasswordData",
          "logs:FilterLogEvents", "logs:GetLogEvents", "logs:GetLogRecord",
          "logs:GetQueryResults", "logs:StartLiveTail", "logs:StartQuery", "logs:Unmask",
          "rds:DownloadCompleteDBLogFile", "rds:DownloadDBLogFilePortion",
          "secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue",
        ]
        Resource = "*"
      },
    ]
  })
}

# ---------------------------------------------------------------------------------------------- plan

resource "aws_iam_role" "plan" {
  name                 = "${var.name}-ci-plan"
  description          = "CircleCI: terraform plan of every stack on every branch (refresh reads, state lock)"
  assume_role_policy   = local.trust_policies.plan
  max_session_duration = 3600
}

resource "aws_iam_policy" "plan" {
  name        = "${var.name}-ci-plan"
  description = "terraform plan of the shipshape stacks: read state, take the state lock"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListStateBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = local.state_bucket_arn
      },
      # The state and the stack variables next to it (<prefix>/terraform.tfvars).
      {
        Sid      = "ReadStackStateAndVariables"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.stack_state_objects
      },
      # use_lockfile: plan takes the lock by writing <key>.tflock and removes it afterwards; nothing else.
      {
        Sid      = "StateLockFile"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = local.stack_lock_files
      },
      {
        Sid      = "StateKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.state.arn
      },
      {
        Sid      = "DenySigning"
        Effect   = "Deny"
        Action   = ["kms:Sign"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "plan" {
  for_each = toset(["guardrails", "stack-read", "plan"])

  role       = aws_iam_role.plan.name
  policy_arn = local.ci_policy_arns[each.key]
  depends_on = [aws_iam_policy.guardrails, aws_iam_policy.stack_read, aws_iam_policy.plan]
}

# --------------------------------------------------------------------------------------------- apply

resource "aws_iam_role" "apply" {
  name                 = "${var.name}-ci-apply"
  description          = "CircleCI: terraform apply of an approved saved plan, ${var.deploy_branch} branch, apply context"
  assume_role_policy   = local.trust_policies.apply
  max_session_duration = var.apply_session_seconds
}

resource "aws_iam_policy" "apply" {
  name        = "${var.name}-ci-apply"
  description = "Apply approved Terraform plans of the shipshape stacks"
  # checkov:skip=CKV_AWS_355:Creating VPCs, instances, clusters and databases has no resource ARN before they exist; writes are pinned to var.region
  # checkov:skip=CKV_AWS_290:Same: infrastructure writes are bounded by service list and region, IAM by name, boundary and the guardrail denies
  # checkov:skip=CKV_AWS_289:Permissions management is limited to "<name>-*" IAM names and roles that carry the stack boundary
  # checkov:skip=CKV_AWS_288:Data reads are denied in the attached stack-read policy (secrets, parameters, logs, objects)
  # checkov:skip=CKV_AWS_287:No credentials are exposed: PassRole is limited to "<name>-*" roles and five services
  # checkov:skip=CKV_AWS_286:Escalation is closed by the boundary requirement and the guardrail denies; tests/infra/test_aws_bootstrap_iam.py proves it
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListStateBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = local.state_bucket_arn
      },
      {
        Sid      = "ReadStackStateAndVariables"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.stack_state_objects
      },
      # The state and its lock only: the stack variables (terraform.tfvars) are written by people.
      {
        Sid      = "WriteStackState"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = concat(local.stack_state_files, local.stack_lock_files)
      },
      {
        Sid      = "StateKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.state.arn
      },
      # The services infra/aws/vm and infra/aws/eks manage, in var.region only (each one is used by a planned
      # resource: tests/infra/test_aws_stacks_iam.py).
      {
        Sid    = "RegionalInfrastructure"
        Effect = "Allow"
        Action = [
          "acm:*", "aps:*", "autoscaling:*", "cloudwatch:*", "ec2:*", "eks:*", "elasticloadbalancing:*", "logs:*",
          "rds:*", "wafv2:*",
        ]
        Resource  = "*"
        Condition = local.in_region
      },
      # The stacks' own keys (logs, EKS secrets, RDS): lifecycle and use. The bootstrap's keys are denied below.
      {
        Sid    = "StackKeys"
        Effect = "Allow"
        Action = [
          "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant", "kms:CreateKey", "kms:Decrypt",
          "kms:DeleteAlias", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:Encrypt",
          "kms:GenerateDataKey*", "kms:PutKeyPolicy", "kms:ReEncrypt*", "kms:RetireGrant", "kms:ScheduleKeyDeletion",
          "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
        ]
        Resource  = "*"
        Condition = local.in_region
      },
      # Route 53 health check metrics, and so their alarms, exist only in us-east-1 (infra/aws/eks's public
      # path alarm), whatever var.region is: the stacks' alarms there, by name.
      {
        Sid      = "HealthCheckAlarms"
        Effect   = "Allow"
        Action   = ["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"]
        Resource = "arn:${local.partition}:cloudwatch:us-east-1:${local.account_id}:alarm:${var.name}-*"
      },
      # RDS-managed master password: RDS creates and rotates the secret; apply never reads its value.
      {
        Sid    = "DatabaseSecretLifecycle"
        Effect = "Allow"
        Action = [
          "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:RotateSecret",
          "secretsmanager:TagResource", "secretsmanager:UntagResource",
        ]
        Resource  = "*"
        Condition = local.in_region
      },
      # The stacks' own secrets (the database logins' containers): description and key; never a value.
      {
        Sid      = "StackSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:UpdateSecret"]
        Resource = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${var.name}/*"
      },
      # SSM: infra/aws/vm's deploy document; no SendCommand, no sessions.
      {
        Sid    = "SsmDocumentsAndAssociations"
        Effect = "Allow"
        Action = [
          "ssm:AddTagsToResource", "ssm:CreateDocument", "ssm:DeleteDocument", "ssm:RemoveTagsFromResource",
          "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion",
        ]
        Resource  = "*"
        Condition = local.in_region
      },
      # Route 53 is global: records and validation for the service's domain.
      {
        Sid      = "DnsRecords"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets"]
        Resource = "arn:${local.partition}:route53:::hostedzone/*"
      },
      # infra/aws/eks's health check of the public path (CreateHealthCheck has no resource-level permission).
      {
        Sid      = "CreateHealthChecks"
        Effect   = "Allow"
        Action   = ["route53:CreateHealthCheck"]
        Resource = "*"
      },
      {
        Sid      = "ManageHealthChecks"
        Effect   = "Allow"
        Action   = ["route53:ChangeTagsForResource", "route53:DeleteHealthCheck", "route53:UpdateHealthCheck"]
        Resource = "arn:${local.partition}:route53:::healthcheck/*"
      },
      # IAM: a stack role can only be created, or get policies, with the stack boundary (guardrails deny
      # the rest); whatever its policies say, it can never exceed that boundary.
      {
        Sid    = "BoundedStackRoles"
        Effect = "Allow"
        Action = [
          "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
          "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
        ]
        Resource  = local.stack_role_arns
        Condition = { StringEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }
      },
      {
        Sid    = "ManageStackRoles"
        Effect = "Allow"
        Action = [
          "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
          "iam:UpdateRoleDescription",
        ]
        Resource = local.stack_role_arns
      },
      {
        Sid       = "PassStackRolesToStackServices"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = local.stack_role_arns
        Condition = { StringEquals = { "iam:PassedToService" = local.pass_role_services } }
      },
      # The stacks make no managed policies (inline and AWS-managed ones only), so apply writes none.
      {
        Sid    = "StackInstanceProfiles"
        Effect = "Allow"
        Action = [
          "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
          "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile",
        ]
        Resource = local.stack_instance_profile_arns
      },
      {
        Sid      = "ServiceLinkedRoles"
        Effect   = "Allow"
        Action   = ["iam:CreateServiceLinkedRole"]
        Resource = "*"
        # events: CloudWatch alarms with EC2 actions (infra/aws/vm's recover alarm) need AWSServiceRoleForCloudWatchEvents.
        Condition = { StringEquals = { "iam:AWSServiceName" = ["autoscaling.amazonaws.com", "eks.amazonaws.com", "elasticloadbalancing.amazonaws.com", "events.amazonaws.com", "rds.amazonaws.com", "scraper.aps.amazonaws.com"] } }
      },
      # The bootstrap's keys: state usage only; never administer or re-alias them, never sign with any key.
      {
        Sid       = "DenyBootstrapKeyChanges"
        Effect    = "Deny"
        NotAction = ["kms:Decrypt", "kms:Describe*", "kms:Encrypt", "kms:GenerateDataKey", "kms:Get*", "kms:List*"]
        Resource  = local.bootstrap_key_arns
      },
      {
        Sid      = "DenySigning"
        Effect   = "Deny"
        Action   = ["kms:Sign"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "apply" {
  for_each = toset(["guardrails", "stack-read", "apply"])

  role       = aws_iam_role.apply.name
  policy_arn = local.ci_policy_arns[each.key]
  depends_on = [aws_iam_policy.guardrails, aws_iam_policy.stack_read, aws_iam_policy.apply]
}

# ------------------------------------------------------------------------------------------- publish

resource "aws_iam_role" "publish" {
  name                 = "${var.name}-ci-publish"
  description          = "CircleCI: push and sign images, charts and VM releases (${var.deploy_branch} or release tags, publish context)"
  assume_role_policy   = local.trust_policies.publish
  max_session_duration = 3600
}

resource "aws_iam_policy" "publish" {
  name        = "${var.name}-ci-publish"
  description = "Push and sign shipshape images, charts and VM releases; never move the release pointer"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      # Push, never delete: existing tags are immutable (signature tags excepted), so a re-run re-signs.
      {
        Sid      = "EcrPush"
        Effect   = "Allow"
        Action   = concat(local.ecr_pull_actions, ["ecr:BatchCheckLayerAvailability", "ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"])
        Resource = values(local.ecr_repository_arns)
      },
      {
        Sid      = "Sign"
        Effect   = "Allow"
        Action   = ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"]
        Resource = aws_kms_key.cosign.arn
      },
      {
        Sid       = "ListReleases"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = local.releases_bucket_arn
        Condition = { StringLike = { "s3:prefix" = ["${local.release_prefix}releases/*"] } }
      },
      # Upload a release (binary, .sha256, .sig) once; the bucket refuses overwrites and the pointer.
      {
        Sid      = "UploadReleases"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = local.release_objects_arn
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "publish" {
  for_each = toset(["guardrails", "publish"])

  role       = aws_iam_role.publish.name
  policy_arn = local.ci_policy_arns[each.key]
  depends_on = [aws_iam_policy.guardrails, aws_iam_policy.publish]
}

# -------------------------------------------------------------------------------------------- deploy

resource "aws_iam_role" "deploy" {
  name                 = "${var.name}-ci-deploy"
  description          = "CircleCI: verify and deploy signed releases (${var.deploy_branch} or release tags, deploy context)"
  assume_role_policy   = local.trust_policies.deploy
  max_session_duration = 3600
}

resource "aws_iam_policy" "deploy" {
  name        = "${var.name}-ci-deploy"
  description = "Verify and deploy signed shipshape releases; never sign"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      # Pull the image and its signature tags to verify them before helm upgrade; no push.
      {
        Sid      = "EcrPull"
        Effect   = "Allow"
        Action   = local.ecr_pull_actions
        Resource = values(local.ecr_repository_arns)
      },
      # cosign verify / verify-blob with the KMS key: its public key (or KMS Verify); never Sign.
      {
        Sid      = "VerifySignatures"
        Effect   = "Allow"
        Action   = ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"]
        Resource = aws_kms_key.cosign.arn
      },
      # update-kubeconfig only; what the role may do inside Kubernetes is the cluster's access entry.
      {
        Sid      = "EksDescribe"
        Effect   = "Allow"
        Action   = ["eks:DescribeCluster"]
        Resource = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.eks_cluster_name}"
      },
      # Stack outputs (helm values, VM targets) come from the state, read-only.
      {
        Sid      = "ListStateBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = local.state_bucket_arn
      },
      {
        Sid      = "ReadStackState"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.stack_state_files
      },
      {
        Sid      = "StateKeyDecrypt"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = aws_kms_key.state.arn
      },
      {
        Sid       = "ListReleases"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = local.releases_bucket_arn
        Condition = { StringLike = { "s3:prefix" = ["${local.release_prefix}*"] } }
      },
      {
        Sid      = "ReadReleases"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = concat([local.release_objects_arn], local.release_pointer_arns)
      },
      # The release pointer: which signed release the VMs run (deploy, roll back, roll forward).
      {
        Sid      = "MoveReleasePointer"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = local.release_pointer_arns
      },
      # VM rollout: infra/aws/vm's own deploy document, on this project's VM instances only.
      {
        Sid      = "SsmRunOnShipshapeVms"
        Effect   = "Allow"
        Action   = ["ssm:SendCommand"]
        Resource = "arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"
        Condition = { StringEquals = {
          "aws:ResourceTag/Project" = "shipshape"
          "aws:ResourceTag/Stack"   = "aws/vm"
        } }
      },
      {
        Sid      = "SsmDeployDocument"
        Effect   = "Allow"
        Action   = ["ssm:SendCommand"]
        Resource = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:document/${var.vm_deploy_document_name}"
      },
      # Following the rollout (scripts/deploy-vm.sh); no resource-level permissions (AWS requires "*").
      {
        Sid      = "SsmObserve"
        Effect   = "Allow"
        Action   = ["ssm:ListCommandInvocations", "ssm:ListCommands"]
        Resource = "*"
      },
      {
        Sid      = "DenySigning"
        Effect   = "Deny"
        Action   = ["kms:Sign"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = toset(["guardrails", "deploy"])

  role       = aws_iam_role.deploy.name
  policy_arn = local.ci_policy_arns[each.key]
  depends_on = [aws_iam_policy.guardrails, aws_iam_policy.deploy]
}

# ------------------------------------------------------------------------------ stack role boundary

# The most any role created by the stacks (EKS cluster/node/Pod Identity roles, the VM instance role,
# flow-log and monitoring roles) can ever do, whatever policies apply gives it: the data-plane services
# those AWS-managed policies cover, no IAM beyond EKS Auto Mode's instance profiles, nothing on the
# bootstrap's keys, state, repositories or release pointer, and nothing at all in a session that came
# from a web identity (a CircleCI token can never use a stack role, whatever its trust policy says).
resource "aws_iam_policy" "stack_boundary" {
  name        = "${var.name}-ci-stack-boundary"
  description = "Permissions boundary of every role the shipshape stacks create"
  # checkov:skip=CKV_AWS_355:A permissions boundary grants nothing: it caps what each stack role's own (scoped) policies allow
  # checkov:skip=CKV_AWS_290:Same: the cap covers the AWS-managed policies of EKS Auto Mode and SSM, whose resources are not known in advance
  # checkov:skip=CKV_AWS_289:IAM in the boundary is only EKS Auto Mode's instance-profile handling and PassRole of "<name>-*" roles
  # checkov:skip=CKV_AWS_288:Data reads in the boundary are what workloads need (the database secret for External Secrets, releases for the VMs)
  # checkov:skip=CKV_AWS_287:No credentials: PassRole only of "<name>-*" stack roles, all of which carry this boundary
  # checkov:skip=CKV_AWS_286:Escalation closed: no role writes, no chaining, pipeline identity denied; tests/infra/test_aws_bootstrap_iam.py
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "WorkloadServices"
        Effect = "Allow"
        Action = [
          "acm:Describe*", "acm:Get*", "acm:List*", "autoscaling:Describe*", "cloudwatch:*", "cognito-idp:DescribeUserPoolClient",
          "ec2:*", "ec2messages:*", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:BatchImportUpstreamImage",
          "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer", "eks-auth:AssumeRoleForPodIdentity", "eks:Describe*",
          "eks:List*", "elasticloadbalancing:*", "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
          "kms:GenerateDataKey*", "kms:ListGrants", "kms:ReEncrypt*", "kms:RetireGrant", "logs:*", "route53:ChangeResourceRecordSets",
          "route53:Get*", "route53:List*", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "shield:*",
          "ssm:Describe*", "ssm:Get*", "ssm:List*", "ssm:Put*", "ssm:Update*", "ssmmessages:*", "sts:GetCallerIdentity", "tag:*",
          "wafv2:*",
        ]
        Resource = "*"
      },
      {
        Sid      = "ReadReleases"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = concat([local.release_objects_arn], local.release_pointer_arns)
      },
      # EKS Auto Mode's cluster role manages the nodes' instance profiles and passes the node role to EC2.
      {
        Sid    = "AutoModeInstanceProfiles"
        Effect = "Allow"
        Action = [
          "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:CreateServiceLinkedRole", "iam:DeleteInstanceProfile",
          "iam:GetInstanceProfile", "iam:GetRole", "iam:ListInstanceProfiles", "iam:ListInstanceProfilesForRole",
          "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
        ]
        Resource = "*"
      },
      {
        Sid       = "PassStackRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = local.stack_role_arns
        Condition = { StringEquals = { "iam:PassedToService" = local.pass_role_services } }
      },
      {
        Sid       = "DenyWebIdentitySessions"
        Effect    = "Deny"
        Action    = "*"
        Resource  = "*"
        Condition = { Null = { "aws:FederatedProvider" = "false" } }
      },
      {
        Sid       = "DenyPipelineIdentity"
        Effect    = "Deny"
        NotAction = ["iam:Get*", "iam:List*"]
        Resource  = local.pipeline_identity_arns
      },
      {
        Sid      = "DenyBootstrapKeysAndSigning"
        Effect   = "Deny"
        Action   = ["kms:*"]
        Resource = local.bootstrap_key_arns
      },
      {
        Sid      = "DenySigning"
        Effect   = "Deny"
        Action   = ["kms:Sign"]
        Resource = "*"
      },
      {
        Sid      = "DenyStateAndLogs"
        Effect   = "Deny"
        Action   = ["s3:*"]
        Resource = [local.state_bucket_arn, "${local.state_bucket_arn}/*", local.logs_bucket_arn, "${local.logs_bucket_arn}/*"]
      },
      {
        Sid       = "DenyReleaseWrites"
        Effect    = "Deny"
        NotAction = ["s3:GetObject", "s3:ListBucket"]
        Resource  = [local.releases_bucket_arn, "${local.releases_bucket_arn}/*"]
      },
      {
        Sid       = "DenyRepositoryWrites"
        Effect    = "Deny"
        NotAction = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource  = values(local.ecr_repository_arns)
      },
    ]
  })
}
