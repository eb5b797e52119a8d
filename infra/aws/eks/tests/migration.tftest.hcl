# Moving to infra/modules/aws-network and infra/modules/aws-log-key keeps the deployed network and log
# key: both as they were before the modules (tests/before-shared-modules) are mock-applied, then the
# stack is planned on that state. tests/infra/test_aws_network_migration.py reads the plans: every old
# object is moved, none is destroyed or re-created. Both NAT modes, since they differ in the objects
# there are.

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

run "before_the_shared_modules" {
  command   = apply
  state_key = "single"

  module {
    source = "./tests/before-shared-modules"
  }

  variables {
    name                       = "shipshape"
    region                     = "us-east-1"
    vpc_cidr                   = "10.40.0.0/16"
    azs                        = ["us-east-1a", "us-east-1b", "us-east-1c"]
    nat_gateway_mode           = "single"
    enable_interface_endpoints = true
    flow_log_destination_arn   = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/shipshape/flow-logs"
    flow_log_iam_role_arn      = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs"
    account_id                 = "123456789012"
    partition                  = "aws"
  }

  override_resource {
    target = aws_kms_key.logs
    values = { key_id = "0a1b2c3d-0000-4000-8000-000000000002", arn = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002" }
  }
}

run "with_the_shared_modules" {
  command   = plan
  state_key = "single"

  # The log group and the role are planned for creation here (the state holds only the network and the
  # log key): their ARNs as the network was given them, already in the plan.
  override_resource {
    target          = aws_cloudwatch_log_group.flow_logs
    values          = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/shipshape/flow-logs" }
    override_during = plan
  }
  override_resource {
    target          = aws_iam_role.flow_logs
    values          = { arn = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs" }
    override_during = plan
  }

  assert {
    condition     = length(module.network.nat_gateway_ids) == 1 && length(module.network.interface_endpoint_ids) == 3
    error_message = "the stack must plan on the network that exists"
  }
  assert {
    condition = (
      module.log_key.key_id == "0a1b2c3d-0000-4000-8000-000000000002" &&
      aws_cloudwatch_log_group.cluster.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002" &&
      module.log_key.alias_name == "alias/shipshape-logs"
    )
    error_message = "the log groups must be planned with the log key that exists, under its alias"
  }
}

run "before_the_shared_modules_per_az" {
  command   = apply
  state_key = "per_az"

  module {
    source = "./tests/before-shared-modules"
  }

  variables {
    name                       = "shipshape"
    region                     = "us-east-1"
    vpc_cidr                   = "10.40.0.0/16"
    azs                        = ["us-east-1a", "us-east-1b", "us-east-1c"]
    nat_gateway_mode           = "per_az"
    enable_interface_endpoints = true
    flow_log_destination_arn   = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/shipshape/flow-logs"
    flow_log_iam_role_arn      = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs"
    account_id                 = "123456789012"
    partition                  = "aws"
  }

  override_resource {
    target = aws_kms_key.logs
    values = { key_id = "0a1b2c3d-0000-4000-8000-000000000002", arn = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002" }
  }
}

run "with_the_shared_modules_per_az" {
  command   = plan
  state_key = "per_az"

  variables {
    nat_gateway_mode = "per_az"
  }

  # The log group and the role are planned for creation here (the state holds only the network and the
  # log key): their ARNs as the network was given them, already in the plan.
  override_resource {
    target          = aws_cloudwatch_log_group.flow_logs
    values          = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc/shipshape/flow-logs" }
    override_during = plan
  }
  override_resource {
    target          = aws_iam_role.flow_logs
    values          = { arn = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs" }
    override_during = plan
  }

  assert {
    condition     = length(module.network.nat_gateway_ids) == 3
    error_message = "the stack must plan on the network that exists"
  }
}
