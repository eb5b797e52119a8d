# The planned IAM documents of the bootstrap (roles' trust and permissions, the stack boundary, bucket and
# key policies). tests/infra/test_aws_bootstrap_iam.py evaluates them against escalation probes; the
# assertions here pin their shape.

mock_provider "aws" {
  source = "./tests"
}

variables {
  region              = "us-east-1"
  circleci_org_id     = "00000000-0000-4000-8000-000000000000"
  circleci_project_id = "11111111-1111-4111-8111-111111111111"
  vcs_origin          = "github.com/acme/shipshape"
  circleci_context_ids = {
    plan    = "aaaaaaaa-0000-4000-8000-000000000001"
    apply   = "aaaaaaaa-0000-4000-8000-000000000002"
    publish = "aaaaaaaa-0000-4000-8000-000000000003"
    deploy  = "aaaaaaaa-0000-4000-8000-000000000004"
  }
}

run "defaults" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.apply.assume_role_policy).Statement[0].Condition["ForAnyValue:StringEquals"]["oidc.circleci.com/org/00000000-0000-4000-8000-000000000000:oidc.circleci.com/context-ids"] == "aaaaaaaa-0000-4000-8000-000000000002"
    error_message = "apply trusts only jobs in the apply context"
  }
  assert {
    condition     = alltrue([for r in [aws_iam_role.plan, aws_iam_role.apply, aws_iam_role.publish, aws_iam_role.deploy] : jsondecode(r.assume_role_policy).Statement[0].Condition.Bool["oidc.circleci.com/org/00000000-0000-4000-8000-000000000000:oidc.circleci.com/ssh-rerun"] == "false"])
    error_message = "no role trusts an SSH rerun"
  }
  assert {
    condition     = jsondecode(aws_iam_role.apply.assume_role_policy).Statement[0].Condition.StringLike["oidc.circleci.com/org/00000000-0000-4000-8000-000000000000:oidc.circleci.com/vcs-ref"] == ["refs/heads/main"]
    error_message = "apply: the deploy branch only, never a tag"
  }
  assert {
    condition     = jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringLike["oidc.circleci.com/org/00000000-0000-4000-8000-000000000000:oidc.circleci.com/vcs-ref"] == ["refs/heads/main", "refs/tags/v*"]
    error_message = "deploy: the deploy branch and release tags"
  }
  assert {
    condition     = aws_iam_role.apply.max_session_duration == 10800 && output.apply_session_seconds == 10800
    error_message = "apply sessions outlast a first EKS + RDS apply"
  }
  assert {
    condition     = alltrue([for p in [aws_iam_policy.apply, aws_iam_policy.stack_boundary, aws_iam_policy.stack_read, aws_iam_policy.guardrails, aws_iam_policy.plan, aws_iam_policy.publish, aws_iam_policy.deploy] : length(p.policy) < 6144])
    error_message = "managed policies must fit IAM's 6,144-character limit"
  }
  assert {
    condition     = output.stack_permissions_boundary_arn == "arn:aws:iam::123456789012:policy/shipshape-ci-stack-boundary"
    error_message = "the boundary ARN the stacks use is known at plan time"
  }
}

run "no_release_tags" {
  command = plan

  variables {
    release_tag_prefix = ""
  }

  assert {
    condition     = jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition.StringLike["oidc.circleci.com/org/00000000-0000-4000-8000-000000000000:oidc.circleci.com/vcs-ref"] == ["refs/heads/main"]
    error_message = "without a tag prefix, deploy trusts the branch only"
  }
}

run "rejects_shared_context" {
  command = plan

  variables {
    circleci_context_ids = {
      plan    = "aaaaaaaa-0000-4000-8000-000000000001"
      apply   = "aaaaaaaa-0000-4000-8000-000000000001"
      publish = "aaaaaaaa-0000-4000-8000-000000000003"
      deploy  = "aaaaaaaa-0000-4000-8000-000000000004"
    }
  }
  expect_failures = [var.circleci_context_ids]
}
