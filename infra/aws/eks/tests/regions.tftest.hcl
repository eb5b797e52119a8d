# infra/aws/eks in another region than us-east-1 (where Route 53 health check metrics and their alarm
# live), mock-applied. A file of its own, so the mutation tests of tests/infra/test_aws_eks.py (which run
# tests/plan.tftest.hcl) do not pay for it; tests/infra/test_aws_stacks_iam.py reads it.

mock_provider "aws" {
  source = "./tests"
}

variables {
  admin_role_arn                 = "arn:aws:iam::123456789012:role/platform-admin"
  deploy_role_arn                = "arn:aws:iam::123456789012:role/shipshape-ci-deploy"
  stack_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/shipshape-ci-stack-boundary"
  route53_zone_id                = "Z0123456789ABCDEFGHIJ"
  domain_name                    = "shipshape.example.com"
}

# tests/infra/test_aws_stacks_iam.py checks the apply role of a bootstrap in eu-west-1 can create all of it.
run "other_region" {
  command = apply

  variables {
    region = "eu-west-1"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.service_unhealthy.region == "us-east-1" && output.region == "eu-west-1"
    error_message = "the health check alarm must be in us-east-1 whatever the stack's region"
  }
}

run "region_is_validated" {
  command = plan

  variables {
    region = "us_east_1"
  }

  expect_failures = [var.region]
}

run "tags_cannot_override_the_stack_tags" {
  command = plan

  variables {
    tags = { Stack = "other" }
  }

  expect_failures = [var.tags]
}
