# CircleCI's OIDC issuer for this organization. Jobs exchange $CIRCLE_OIDC_TOKEN_V2 for short-lived role
# credentials (aws-cli orb, role_arn), so no AWS access key exists anywhere. No thumbprint_list: IAM
# verifies this issuer through its trusted root CAs.
#
# Since February 2026 STS validates CircleCI's own claims as condition keys of the provider
# (<provider>:oidc.circleci.com/<claim>), so the trust policies below check, besides aud and sub:
#   oidc.circleci.com/project-id   this project only
#   oidc.circleci.com/vcs-origin   this repository only
#   oidc.circleci.com/vcs-ref      the deploy branch (and, for publish/deploy, release tags)
#   oidc.circleci.com/context-ids  the job uses the role's context (CircleCI enforces the context's
#                                  restrictions: branch expression, approvers' security group)
#   oidc.circleci.com/ssh-rerun    false: a job re-run with SSH (a person at a shell) gets no credentials
# Every key is a positive test: a token that lacks the claim, or a key STS does not provide, fails closed.

locals {
  oidc_host         = "oidc.circleci.com/org/${var.circleci_org_id}"
  oidc_provider_arn = "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.oidc_host}"
  claim             = "${local.oidc_host}:oidc.circleci.com"

  # Any branch of this project (the V1 token's sub ends at the user id, the V2 token's goes on; both match).
  sub_any_branch = "org/${var.circleci_org_id}/project/${var.circleci_project_id}/user/*"

  # V2 token sub for one ref of var.vcs_origin. The user id is matched by 36 single-character wildcards (a
  # UUID's length) instead of `*`, so the rest must match literally to the end: a branch named
  # ".../vcs-origin/<origin>/vcs-ref/refs/heads/main" cannot smuggle itself into the pattern.
  uuid_wildcard = join("", [for i in range(36) : "?"])
  sub_for_ref = { for kind, ref in local.refs : kind => join("/", [
    "org", var.circleci_org_id,
    "project", var.circleci_project_id,
    "user", local.uuid_wildcard,
    "vcs-origin", var.vcs_origin,
    "vcs-ref", ref,
  ]) }

  refs = merge(
    { branch = "refs/heads/${var.deploy_branch}" },
    var.release_tag_prefix == "" ? {} : { tag = "refs/tags/${var.release_tag_prefix}*" },
  )

  # One trust policy per role: which refs may assume it, and which context the job must use.
  trust = {
    plan    = { refs = null, context = var.circleci_context_ids.plan }
    apply   = { refs = ["branch"], context = var.circleci_context_ids.apply }
    publish = { refs = keys(local.refs), context = var.circleci_context_ids.publish }
    deploy  = { refs = keys(local.refs), context = var.circleci_context_ids.deploy }
  }

  trust_policies = { for role, t in local.trust : role => jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CircleCI${title(role)}"
      Effect    = "Allow"
      Principal = { Federated = local.oidc_provider_arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = merge(
        {
          StringEquals = merge(
            {
              "${local.oidc_host}:aud"    = var.circleci_org_id
              "${local.claim}/project-id" = var.circleci_project_id
            },
            t.refs == null ? {} : { "${local.claim}/vcs-origin" = var.vcs_origin },
          )
          StringLike = merge(
            { "${local.oidc_host}:sub" = t.refs == null ? [local.sub_any_branch] : [for r in t.refs : local.sub_for_ref[r]] },
            t.refs == null ? {} : { "${local.claim}/vcs-ref" = [for r in t.refs : local.refs[r]] },
          )
          "ForAnyValue:StringEquals" = { "${local.claim}/context-ids" = t.context }
          Bool                       = { "${local.claim}/ssh-rerun" = "false" }
        },
      )
    }]
  }) }
}

resource "aws_iam_openid_connect_provider" "circleci" {
  url            = "https://${local.oidc_host}"
  client_id_list = [var.circleci_org_id]
}
