# The plan that tests/infra/test_aws_bootstrap_iam.py evaluates (trust, permissions, boundary, bucket and
# key policies). No assertions here: the probes are the assertions, and their mutation tests must reach
# the probes even when a mutation would also trip an assertion of iam.tftest.hcl.

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

run "policies" {
  command = plan
}

