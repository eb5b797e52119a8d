# CircleCI's OIDC issuer for this organization. Jobs exchange $CIRCLE_OIDC_TOKEN_V2 for short-lived role
# credentials (aws-cli orb, role_arn), so no AWS access key exists anywhere. No thumbprint_list: IAM
# verifies this issuer through its trusted root CAs.

locals {
  oidc_host = "oidc.circleci.com/org/${var.circleci_org_id}"

  # Any branch of this project (the V1 token's sub ends at the user id, the V2 token's goes on; both match).
  sub_any_branch = "org/${var.circleci_org_id}/project/${var.circleci_project_id}/user/*"

  # Only var.deploy_branch of var.vcs_origin, V2 token format. The user id is matched by 36 single-character
  # wildcards (a UUID's length) instead of `*`, so the rest must match literally to the end: a branch named
  # ".../vcs-origin/<origin>/vcs-ref/refs/heads/main" cannot smuggle itself into the pattern.
  uuid_wildcard = join("", [for i in range(36) : "?"])
  sub_deploy_branch = join("/", [
    "org", var.circleci_org_id,
    "project", var.circleci_project_id,
    "user", local.uuid_wildcard,
    "vcs-origin", var.vcs_origin,
    "vcs-ref", "refs/heads/${var.deploy_branch}",
  ])
}

resource "aws_iam_openid_connect_provider" "circleci" {
  url            = "https://${local.oidc_host}"
  client_id_list = [var.circleci_org_id]
}

data "aws_iam_policy_document" "trust_any_branch" {
  statement {
    sid     = "CircleCIProjectAnyBranch"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.circleci.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = [var.circleci_org_id]
    }
    condition {
      test     = "StringLike"
      variable = "${local.oidc_host}:sub"
      values   = [local.sub_any_branch]
    }
  }
}

data "aws_iam_policy_document" "trust_deploy_branch" {
  statement {
    sid     = "CircleCIProjectDeployBranch"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.circleci.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = [var.circleci_org_id]
    }
    condition {
      test     = "StringLike"
      variable = "${local.oidc_host}:sub"
      values   = [local.sub_deploy_branch]
    }
  }
}
