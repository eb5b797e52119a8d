variable "project_id" {
  description = "ID of the GCP project for the state, the releases, the CI identities and the stacks (it must exist, with billing)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project ID: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the state and release buckets and of the signing key (keep infra/gcp/vm in the same region)."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1 or europe-west4."
  }
}

variable "name" {
  description = "Prefix of every resource name (buckets, service accounts, key ring, identity pool)."
  type        = string
  default     = "shipshape"

  validation {
    # 3-19 characters: "<name>-vm" must reach a service account ID's 6-character minimum and
    # "<name>-ci-publish" must stay within its 30-character maximum.
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}[a-z0-9]$", var.name))
    error_message = "name must be 3-19 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels (merged under project/managed-by/stack)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels: keys start with a lowercase letter; keys and values use lowercase letters, digits, _ and - (at most 63 characters)."
  }
}

variable "circleci_org_id" {
  description = "CircleCI organization ID (Organization Settings > Overview): the token issuer is https://oidc.circleci.com/org/<id> and the audience is the ID."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.circleci_org_id))
    error_message = "circleci_org_id must be a lower-case UUID."
  }
}

variable "circleci_project_id" {
  description = "CircleCI project ID of shipshape (Project Settings > Overview). Tokens of any other project are rejected."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.circleci_project_id))
    error_message = "circleci_project_id must be a lower-case UUID."
  }
}

variable "vcs_origin" {
  description = "Repository as CircleCI's token names it (claim oidc.circleci.com/vcs-origin), e.g. github.com/acme/shipshape. Tokens of forks and other repositories are rejected."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.vcs_origin))
    error_message = "vcs_origin must be host/owner/repo (letters, digits, '.', '_', '-')."
  }
}

variable "deploy_branch" {
  description = "The only branch whose jobs may act as the apply identity, and (with release tags) as the publish and deploy identities."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.deploy_branch))
    error_message = "deploy_branch must be one branch name (letters, digits, '.', '_', '/', '-')."
  }
}

variable "release_tag_prefix" {
  description = "Git tags starting with this are releases: their jobs may act as the publish and deploy identities (as on main). Protect these tags in the VCS."
  type        = string
  default     = "v"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.release_tag_prefix))
    error_message = "release_tag_prefix must be letters, digits, '.', '_' or '-' (no wildcard)."
  }
}

variable "circleci_context_ids" {
  description = "IDs of the four CircleCI contexts (Organization Settings > Contexts > the context's page): plan, apply, publish and deploy. A token may act as an identity only when its job runs in that identity's context (claim oidc.circleci.com/context-ids), so CircleCI's context restrictions (branch, approvers) are enforced by Google Cloud too."
  type = object({
    plan    = string
    apply   = string
    publish = string
    deploy  = string
  })

  validation {
    condition = alltrue([
      for id in values(var.circleci_context_ids) :
      can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", id))
    ]) && length(distinct(values(var.circleci_context_ids))) == 4
    error_message = "circleci_context_ids must be four different lower-case UUIDs."
  }
}

variable "stack_state_prefixes" {
  description = "State prefixes (<cloud>/<stack>) of the stacks the pipeline plans and applies with these identities."
  type        = list(string)
  default     = ["gcp/vm"]

  validation {
    condition     = length(var.stack_state_prefixes) > 0 && alltrue([for p in var.stack_state_prefixes : can(regex("^gcp/[a-z0-9-]+$", p)) && p != "gcp/bootstrap"])
    error_message = "Each prefix must be gcp/<stack>, and never gcp/bootstrap (the pipeline never applies this stack)."
  }
}

variable "release_prefix" {
  description = "Object prefix of the releases and the pointer in the release bucket (infra/gcp/vm's release_prefix): <prefix>releases/<version>/..., <prefix>current.json, <prefix>previous.json."
  type        = string
  default     = "shipshape/"

  validation {
    condition     = can(regex("^([a-z0-9._-]+/)+$", var.release_prefix))
    error_message = "release_prefix must be path segments (a-z, 0-9, '.', '_', '-') each ending in '/'."
  }
}

variable "state_noncurrent_versions_kept" {
  description = "How many older versions of each state object are always kept (they are the undo history of every stack)."
  type        = number
  default     = 10

  validation {
    condition     = var.state_noncurrent_versions_kept >= 3
    error_message = "state_noncurrent_versions_kept must be at least 3."
  }
}

variable "state_noncurrent_version_days" {
  description = "Days after which an older state version beyond state_noncurrent_versions_kept is deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.state_noncurrent_version_days >= 30
    error_message = "state_noncurrent_version_days must be at least 30."
  }
}

variable "pointer_history_days" {
  description = "Days an overwritten release pointer (current.json) stays as a noncurrent object version: the record of what ran when."
  type        = number
  default     = 365

  validation {
    condition     = var.pointer_history_days >= 30
    error_message = "pointer_history_days must be at least 30."
  }
}

variable "signing_key_protection_level" {
  description = "Protection level of the release signing key: SOFTWARE, or HSM (FIPS 140-2 Level 3, billed per key version and operation)."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.signing_key_protection_level)
    error_message = "signing_key_protection_level must be SOFTWARE or HSM."
  }
}
