output "region" {
  description = "Region of the bootstrap resources (AWS_REGION in the CircleCI contexts)."
  value       = var.region
}

output "state_bucket" {
  description = "S3 bucket for every stack's Terraform state (TF_STATE_BUCKET)."
  value       = module.state_bucket.name
}

output "state_kms_key_arn" {
  description = "KMS key the state is encrypted with (TF_STATE_KMS_KEY_ARN, backend kms_key_id)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "Arguments for `terraform init -backend-config=...` of any stack (add key=<cloud>/<stack>/terraform.tfstate)."
  value = {
    bucket       = module.state_bucket.name
    region       = var.region
    encrypt      = true
    kms_key_id   = aws_kms_key.state.arn
    use_lockfile = true
  }
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider for CircleCI."
  value       = aws_iam_openid_connect_provider.circleci.arn
}

output "plan_role_arn" {
  description = "Role for terraform plan on every branch (AWS_PLAN_ROLE_ARN)."
  value       = aws_iam_role.plan.arn
}

output "apply_role_arn" {
  description = "Role for terraform apply on the deploy branch (AWS_APPLY_ROLE_ARN)."
  value       = aws_iam_role.apply.arn
}

output "apply_session_seconds" {
  description = "Session length the tf-apply job may request (AWS_APPLY_SESSION_SECONDS)."
  value       = var.apply_session_seconds
}

output "publish_role_arn" {
  description = "Role that pushes and signs images, charts and VM releases (AWS_PUBLISH_ROLE_ARN)."
  value       = aws_iam_role.publish.arn
}

output "deploy_role_arn" {
  description = "Role for deploys (AWS_DEPLOY_ROLE_ARN); map it with an EKS access entry. It cannot sign."
  value       = aws_iam_role.deploy.arn
}

output "stack_permissions_boundary_arn" {
  description = "Permissions boundary every IAM role of the stacks must set (permissions_boundary); apply cannot create a role without it."
  value       = local.boundary_arn

  depends_on = [aws_iam_policy.stack_boundary]
}

output "ecr_registry" {
  description = "ECR registry host (ECR_REGISTRY)."
  value       = split("/", aws_ecr_repository.this["image"].repository_url)[0]
}

output "ecr_image_repository_url" {
  description = "Image repository URL (the chart's image.repository)."
  value       = aws_ecr_repository.this["image"].repository_url
}

output "ecr_chart_repository_url" {
  description = "Chart repository URL; push with `helm push chart.tgz oci://<registry>/charts`."
  value       = aws_ecr_repository.this["chart"].repository_url
}

output "release_bucket" {
  description = "S3 bucket of the VM releases and the release pointer (RELEASE_BUCKET)."
  value       = module.releases_bucket.name
}

output "release_bucket_arn" {
  description = "ARN of the release bucket, for the VM instance role's read policy."
  value       = module.releases_bucket.arn
}

output "release_prefix" {
  description = "Key prefix of the release layout (RELEASE_PREFIX): <prefix>current.json, <prefix>previous.json, <prefix>releases/<version>/..."
  value       = local.release_prefix
}

output "release_endpoint" {
  description = "HTTPS endpoint of the release bucket (the VMs' release.endpoint)."
  value       = "https://${module.releases_bucket.regional_domain_name}"
}

output "release_signing_key_arn" {
  description = "The cosign KMS key (ECC P-256) that signs images, charts and VM releases; only the publish role may sign."
  value       = aws_kms_key.cosign.arn
}

output "release_signing_public_key_pem" {
  description = "PEM public key of the signing key: the VMs verify releases with it (release.public_key_pem)."
  value       = data.aws_kms_public_key.cosign.public_key_pem
}

output "artifacts_kms_key_arn" {
  description = "KMS key of the ECR repositories."
  value       = aws_kms_key.artifacts.arn
}

output "cosign_key_uri" {
  description = "cosign --key value for signing and verifying (COSIGN_KEY)."
  value       = "awskms:///${aws_kms_alias.cosign.arn}"
}

output "circleci_context_env" {
  description = "Environment variables of the four CircleCI contexts (docs/pipeline.md, 'Contexts'). Nothing here is a secret."
  value = {
    "shipshape-aws-plan" = {
      AWS_REGION           = var.region
      AWS_PLAN_ROLE_ARN    = aws_iam_role.plan.arn
      TF_STATE_BUCKET      = module.state_bucket.name
      TF_STATE_KMS_KEY_ARN = aws_kms_key.state.arn
      RELEASE_BUCKET       = module.releases_bucket.name
      RELEASE_PREFIX       = local.release_prefix
    }
    "shipshape-aws-apply" = {
      AWS_APPLY_ROLE_ARN        = aws_iam_role.apply.arn
      AWS_APPLY_SESSION_SECONDS = tostring(var.apply_session_seconds)
    }
    "shipshape-aws-publish" = {
      AWS_REGION           = var.region
      AWS_PUBLISH_ROLE_ARN = aws_iam_role.publish.arn
      ECR_REGISTRY         = split("/", aws_ecr_repository.this["image"].repository_url)[0]
      RELEASE_BUCKET       = module.releases_bucket.name
      RELEASE_PREFIX       = local.release_prefix
      COSIGN_KEY           = "awskms:///${aws_kms_alias.cosign.arn}"
    }
    "shipshape-aws-deploy" = {
      AWS_REGION           = var.region
      AWS_DEPLOY_ROLE_ARN  = aws_iam_role.deploy.arn
      TF_STATE_BUCKET      = module.state_bucket.name
      TF_STATE_KMS_KEY_ARN = aws_kms_key.state.arn
      ECR_REGISTRY         = split("/", aws_ecr_repository.this["image"].repository_url)[0]
      RELEASE_BUCKET       = module.releases_bucket.name
      RELEASE_PREFIX       = local.release_prefix
      COSIGN_KEY           = "awskms:///${aws_kms_alias.cosign.arn}"
    }
  }
}

output "stack_inputs" {
  description = "The variables infra/aws/vm and infra/aws/eks take from this stack (put them in their terraform.tfvars next to their state)."
  value = {
    vm = {
      region                         = var.region
      stack_permissions_boundary_arn = local.boundary_arn
      release_bucket                 = module.releases_bucket.name
      release_prefix                 = local.release_prefix
      release_signing_key            = aws_kms_alias.cosign.arn
    }
    eks = {
      region                         = var.region
      name                           = var.eks_cluster_name
      stack_permissions_boundary_arn = local.boundary_arn
      deploy_role_arn                = aws_iam_role.deploy.arn
    }
  }
}
