output "region" {
  description = "Region of the bootstrap resources (AWS_REGION in the CircleCI contexts)."
  value       = var.region
}

output "state_bucket" {
  description = "S3 bucket for every stack's Terraform state (TF_STATE_BUCKET)."
  value       = aws_s3_bucket.state.bucket
}

output "state_kms_key_arn" {
  description = "KMS key the state is encrypted with (TF_STATE_KMS_KEY_ARN, backend kms_key_id)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "Arguments for `terraform init -backend-config=...` of any stack (add key=<cloud>/<stack>/terraform.tfstate)."
  value = {
    bucket       = aws_s3_bucket.state.bucket
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

output "deploy_role_arn" {
  description = "Role for publish and deploy on the deploy branch (AWS_DEPLOY_ROLE_ARN); map it with an EKS access entry."
  value       = aws_iam_role.deploy.arn
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
  description = "S3 bucket for VM release binaries (RELEASE_BUCKET)."
  value       = aws_s3_bucket.releases.bucket
}

output "release_base_url" {
  description = "HTTPS base of release URLs: <base><git-sha>/shipshape is infra/aws/vm's binary_url."
  value       = "https://${aws_s3_bucket.releases.bucket_regional_domain_name}/${local.release_prefix}"
}

output "release_prefix" {
  description = "Key prefix of the releases: <prefix><git-sha>/shipshape (RELEASE_PREFIX)."
  value       = local.release_prefix
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
  description = "Environment variables of the three CircleCI contexts (docs/pipeline.md, 'Contexts'). Nothing here is a secret."
  value = {
    "shipshape-aws-plan" = {
      AWS_REGION           = var.region
      AWS_PLAN_ROLE_ARN    = aws_iam_role.plan.arn
      TF_STATE_BUCKET      = aws_s3_bucket.state.bucket
      TF_STATE_KMS_KEY_ARN = aws_kms_key.state.arn
      RELEASE_BUCKET       = aws_s3_bucket.releases.bucket
      RELEASE_PREFIX       = local.release_prefix
    }
    "shipshape-aws-apply" = {
      AWS_APPLY_ROLE_ARN = aws_iam_role.apply.arn
    }
    "shipshape-aws-deploy" = {
      AWS_REGION           = var.region
      AWS_DEPLOY_ROLE_ARN  = aws_iam_role.deploy.arn
      TF_STATE_BUCKET      = aws_s3_bucket.state.bucket
      TF_STATE_KMS_KEY_ARN = aws_kms_key.state.arn
      ECR_REGISTRY         = split("/", aws_ecr_repository.this["image"].repository_url)[0]
      RELEASE_BUCKET       = aws_s3_bucket.releases.bucket
      RELEASE_PREFIX       = local.release_prefix
      COSIGN_KEY           = "awskms:///${aws_kms_alias.cosign.arn}"
    }
  }
}
