variable "name" {
  description = "Prefix of every named resource. IAM roles and policies named \"<name>-*\" belong to the stacks (the apply role manages them), \"<name>-ci-*\" to this bootstrap (no CI role may write them)."
  type        = string
  default     = "shipshape"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}[a-z0-9]$", var.name))
    error_message = "name must be 2-21 lower-case letters, digits or dashes, starting with a letter and not ending with a dash."
  }
}

variable "tags" {
  description = "Extra tags on every resource (added to Project, ManagedBy and Stack)."
  type        = map(string)
  default     = {}
}

variable "region" {
  description = "AWS region for the state bucket, ECR repositories, release bucket and KMS keys (the stacks deploy here too)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "circleci_org_id" {
  description = "CircleCI organization ID (Organization Settings > Overview). It is the OIDC issuer path and the token audience."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.circleci_org_id))
    error_message = "circleci_org_id must be a lower-case UUID."
  }
}

variable "circleci_project_id" {
  description = "CircleCI project ID of shipshape (Project Settings > Overview). Only this project's jobs may assume the roles."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.circleci_project_id))
    error_message = "circleci_project_id must be a lower-case UUID."
  }
}

variable "vcs_origin" {
  description = "Repository as CircleCI's OIDC token names it (oidc.circleci.com/vcs-origin), e.g. github.com/acme/shipshape. Part of the apply/deploy trust condition."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.vcs_origin)) && !strcontains(var.vcs_origin, "*")
    error_message = "vcs_origin must be host/owner/repo with no wildcard."
  }
}

variable "deploy_branch" {
  description = "The only branch whose pipelines may assume the apply, publish and deploy roles."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.deploy_branch)) && !strcontains(var.deploy_branch, "*")
    error_message = "deploy_branch must be one branch name, no wildcard."
  }
}

variable "release_tag_prefix" {
  description = "Git tags starting with this prefix (v1.2.3) may publish and deploy too; they never apply infrastructure. Protect them in the VCS (tag ruleset) like the deploy branch. Empty: no tag releases."
  type        = string
  default     = "v"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.release_tag_prefix))
    error_message = "release_tag_prefix must be letters, digits, dots, dashes or underscores (no wildcard)."
  }
}

variable "circleci_context_ids" {
  description = "Ids of the four CircleCI contexts (Organization Settings > Contexts > the context's page). Each role trusts only tokens of jobs that use its context, so AWS enforces the contexts' restrictions (branch expression, security group, no SSH rerun)."
  type = object({
    plan    = string
    apply   = string
    publish = string
    deploy  = string
  })

  validation {
    condition = alltrue([
      for id in values(var.circleci_context_ids) : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", id))
    ]) && length(distinct(values(var.circleci_context_ids))) == 4
    error_message = "circleci_context_ids must be four different lower-case UUIDs."
  }
}

variable "apply_session_seconds" {
  description = "Longest session of the apply role: a first EKS + Multi-AZ RDS apply takes 40-60 minutes, and expired credentials mid-apply leave a half-applied stack. The pipeline asks for this duration."
  type        = number
  default     = 10800

  validation {
    condition     = var.apply_session_seconds >= 3600 && var.apply_session_seconds <= 43200
    error_message = "apply_session_seconds must be between 3600 and 43200 (IAM's limits for a role session)."
  }
}

variable "stack_state_prefixes" {
  description = "State key prefixes of the stacks the pipeline plans and applies (key = <prefix>/terraform.tfstate)."
  type        = list(string)
  default     = ["aws/vm", "aws/eks"]

  validation {
    condition     = alltrue([for p in var.stack_state_prefixes : can(regex("^[a-z0-9-]+/[a-z0-9-]+$", p))])
    error_message = "Each prefix must be <cloud>/<stack>."
  }
}

variable "eks_cluster_name" {
  description = "Name of the EKS cluster the deploy role may describe (infra/aws/eks's cluster_name)."
  type        = string
  default     = "shipshape"
}

variable "ecr_keep_images" {
  description = "How many tagged images (and chart versions) each ECR repository keeps; older ones expire."
  type        = number
  default     = 50

  validation {
    condition     = var.ecr_keep_images >= 5 && var.ecr_keep_images <= 1000
    error_message = "ecr_keep_images must be between 5 and 1000, so a rollback target always survives."
  }
}

variable "ecr_untagged_expiry_days" {
  description = "Days after which untagged ECR images (superseded layers, failed pushes) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.ecr_untagged_expiry_days >= 1
    error_message = "ecr_untagged_expiry_days must be at least 1."
  }
}

variable "release_retention_days" {
  description = "Days a VM release binary is kept in the release bucket (noncurrent versions expire after the same time)."
  type        = number
  default     = 365

  validation {
    condition     = var.release_retention_days >= 30
    error_message = "release_retention_days must be at least 30, so the previous VM release stays available for rollback."
  }
}

variable "state_noncurrent_version_days" {
  description = "Days older Terraform state versions are kept (they are the undo history of every stack)."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_days >= 30
    error_message = "state_noncurrent_version_days must be at least 30."
  }
}

variable "log_retention_days" {
  description = "Days S3 server access logs of the state and release buckets are kept."
  type        = number
  default     = 365
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a deleted KMS key is destroyed (a safety net against deleting the state key)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "vm_deploy_document_name" {
  description = "Name of infra/aws/vm's SSM Command document that installs a release (its output deploy.ssm_document)."
  type        = string
  default     = "shipshape-deploy-release"
}
