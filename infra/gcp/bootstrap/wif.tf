# Workload identity federation for CircleCI: a job exchanges its OIDC token ($CIRCLE_OIDC_TOKEN) for a
# short-lived Google token and impersonates one of the CI service accounts (iam.tf). No service account key
# exists anywhere. https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines
#
# Two gates, both enforced by Google Cloud:
#   1. the provider's attribute_condition: only tokens of this CircleCI project and repository, never
#      from a job started with "Rerun job with SSH", are exchanged at all;
#   2. per service account, a principalSet on a mapped attribute (ci_plan / ci_apply / ci_publish /
#      ci_deploy) that is "allowed" only when the job runs in that identity's CircleCI context, and, for
#      apply, on the deploy branch; for publish and deploy, on the deploy branch or a release tag (the
#      pipeline publishes and deploys release tags, as on AWS). A job cannot choose its own context: CircleCI's context restrictions (branch
#      expression, security group of approvers) decide, and the token carries the result.
# Token claims: https://circleci.com/docs/openid-connect-tokens/ (oidc.circleci.com/project-id, vcs-origin,
# vcs-ref, context-ids, ssh-rerun). A missing claim makes the expression fail, and GCP then rejects the
# token: every check fails closed.

locals {
  pool_id = "${var.name}-circleci"

  # CEL over the token's claims. Claims with a "." or "/" in their name are read with assertion['...'].
  on_deploy_branch = "('oidc.circleci.com/vcs-ref' in assertion && assertion['oidc.circleci.com/vcs-ref'] == 'refs/heads/${var.deploy_branch}')"
  on_release_ref   = "(${local.on_deploy_branch} || ('oidc.circleci.com/vcs-ref' in assertion && assertion['oidc.circleci.com/vcs-ref'].startsWith('refs/tags/${var.release_tag_prefix}')))"
  in_context = {
    for role, id in var.circleci_context_ids :
    role => "('oidc.circleci.com/context-ids' in assertion && '${id}' in assertion['oidc.circleci.com/context-ids'])"
  }

  wif_attribute_condition = join(" && ", [
    "assertion['oidc.circleci.com/project-id'] == '${var.circleci_project_id}'",
    "assertion['oidc.circleci.com/vcs-origin'] == '${var.vcs_origin}'",
    "assertion['oidc.circleci.com/ssh-rerun'] == false",
  ])

  wif_attribute_mapping = {
    # $CIRCLE_OIDC_TOKEN's sub (org/<uuid>/project/<uuid>/user/<uuid>) is what audit logs show as the
    # principal; it fits google.subject's 127 bytes (the V2 token's longer sub would not).
    "google.subject"       = "assertion.sub"
    "attribute.ci_plan"    = "${local.in_context.plan} ? 'allowed' : 'denied'"
    "attribute.ci_apply"   = "(${local.on_deploy_branch} && ${local.in_context.apply}) ? 'allowed' : 'denied'"
    "attribute.ci_publish" = "(${local.on_release_ref} && ${local.in_context.publish}) ? 'allowed' : 'denied'"
    "attribute.ci_deploy"  = "(${local.on_release_ref} && ${local.in_context.deploy}) ? 'allowed' : 'denied'"
  }

  # principalSet of the tokens whose attribute <gate> is "allowed" (iam.tf binds one per service account).
  pool_principal_prefix = "principalSet://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools/${local.pool_id}"
}

resource "google_iam_workload_identity_pool" "circleci" {
  project                   = var.project_id
  workload_identity_pool_id = local.pool_id
  display_name              = "CircleCI (${var.name})"
  description               = "CircleCI jobs of ${var.vcs_origin}; infra/gcp/bootstrap"

  depends_on = [google_project_service.required]
}

resource "google_iam_workload_identity_pool_provider" "circleci" {
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.circleci.workload_identity_pool_id
  workload_identity_pool_provider_id = "circleci"
  display_name                       = "CircleCI OIDC"
  description                        = "Tokens of CircleCI project ${var.circleci_project_id}"

  attribute_condition = local.wif_attribute_condition
  attribute_mapping   = local.wif_attribute_mapping

  oidc {
    issuer_uri = "https://oidc.circleci.com/org/${var.circleci_org_id}"
    # CircleCI's tokens carry the organization ID as their audience, not the provider's resource name.
    allowed_audiences = [var.circleci_org_id]
  }
}
