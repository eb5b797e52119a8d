# The bootstrap planned in another region (eu-west-1): tests/infra/test_aws_stacks_iam.py checks its apply
# role against infra/aws/eks planned there (tests/regions.tftest.hcl of that stack), whose health check
# alarm stays in us-east-1. A file of its own, so the bootstrap's mutation tests do not pay for it.

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

run "policies_eu_west_1" {
  command = plan

  variables {
    region = "eu-west-1"
  }
}

# Names are prefixes ("<name>-ci-plan", "<name>-*"): one ending in a dash would double it.
run "name_ending_in_a_dash_is_refused" {
  command = plan

  variables {
    name = "shipshape-"
  }

  expect_failures = [var.name]
}

run "region_is_validated" {
  command = plan

  variables {
    region = "us_east_1"
  }

  expect_failures = [var.region]
}
