# infra/aws/vm moved to infra/modules/aws-network and aws-log-key, and its ALB rules to one table,
# without re-creating anything deployed: tests/infra/test_aws_network_migration.py reads these plans.
# In a file of its own so that the mutation tests of tests/infra/test_aws_vm.py, which run
# tests/vm.tftest.hcl, do not run these too.

mock_provider "aws" {
  # Mocked computed values (ids, ARNs) already in the plan: every run is a plan, nothing is "created".
  override_during = plan
  source          = "./tests"
}

variables {
  release_bucket                 = "shipshape-releases-123456789012-us-east-1"
  stack_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/shipshape-ci-stack-boundary"
}

# ---- moving to the shared modules keeps the deployed network and log key ----------------------------
# The network and the log key as they were before infra/modules/aws-network and aws-log-key, and in
# scaling mode the ALB's four inbound rules as they were before their table (tests/before-shared-modules),
# mock-applied into a state of their own; then the stack is planned on that state.
# tests/infra/test_aws_network_migration.py reads the plans: every old object is moved, none is
# destroyed or re-created.

run "before_the_shared_modules" {
  command   = apply
  state_key = "migration"

  module {
    source = "./tests/before-shared-modules"
  }

  variables {
    name                     = "shipshape"
    vpc_cidr                 = "10.40.0.0/16"
    region                   = "us-east-1"
    azs                      = ["us-east-1a", "us-east-1b"]
    flow_log_destination_arn = "arn:aws:logs:us-east-1:123456789012:log-group:/shipshape/shipshape/vpc-flow-logs"
    flow_log_iam_role_arn    = "arn:aws:iam::123456789012:role/shipshape-flowlogs-20260101000000000000000002"
    account_id               = "123456789012"
    partition                = "aws"
  }

  override_resource {
    target = aws_vpc.main
    values = { ipv6_cidr_block = "2600:1f18:1234:5600::/56", default_network_acl_id = "acl-0123" }
  }
  override_resource {
    target = aws_kms_key.logs
    values = { key_id = "0a1b2c3d-0000-4000-8000-000000000001", arn = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001" }
  }
}

run "with_the_shared_modules" {
  command   = plan
  state_key = "migration"

  # The log group is planned for creation here (the state holds only the network and the key): its
  # ARN as the network was given it, already in the plan.
  override_resource {
    target          = aws_cloudwatch_log_group.flow_logs
    values          = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/shipshape/shipshape/vpc-flow-logs" }
    override_during = plan
  }

  assert {
    condition     = module.network.vpc_ipv6_cidr_block == "2600:1f18:1234:5600::/56"
    error_message = "the stack must plan on the VPC that exists"
  }
  assert {
    condition = (
      module.log_key.key_id == "0a1b2c3d-0000-4000-8000-000000000001" &&
      aws_cloudwatch_log_group.app.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001" &&
      module.log_key.alias_name == "alias/shipshape-vm-logs"
    )
    error_message = "the log groups must be planned with the log key that exists, under its alias"
  }
}

run "before_the_shared_modules_scaling" {
  command   = apply
  state_key = "migration_scaling"

  module {
    source = "./tests/before-shared-modules"
  }

  variables {
    name                     = "shipshape"
    vpc_cidr                 = "10.40.0.0/16"
    region                   = "us-east-1"
    azs                      = ["us-east-1a", "us-east-1b"]
    flow_log_destination_arn = "arn:aws:logs:us-east-1:123456789012:log-group:/shipshape/shipshape/vpc-flow-logs"
    flow_log_iam_role_arn    = "arn:aws:iam::123456789012:role/shipshape-flowlogs-20260101000000000000000002"
    account_id               = "123456789012"
    partition                = "aws"
    enable_scaling           = true
  }

  override_resource {
    target = aws_vpc.main
    values = { ipv6_cidr_block = "2600:1f18:1234:5600::/56", default_network_acl_id = "acl-0123" }
  }
  override_resource {
    target = aws_kms_key.logs
    values = { key_id = "0a1b2c3d-0000-4000-8000-000000000003", arn = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000003" }
  }
  override_resource {
    target = aws_security_group.alb
    values = { id = "sg-0alb0000000000000" }
  }
}

run "with_the_shared_modules_scaling" {
  command   = plan
  state_key = "migration_scaling"

  variables {
    enable_scaling  = true
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }

  override_resource {
    target          = aws_cloudwatch_log_group.flow_logs
    values          = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/shipshape/shipshape/vpc-flow-logs" }
    override_during = plan
  }

  assert {
    condition = (
      toset(keys(aws_vpc_security_group_ingress_rule.alb)) == toset(["http_ipv4", "http_ipv6", "https_ipv4", "https_ipv6"]) &&
      alltrue([for r in aws_vpc_security_group_ingress_rule.alb : r.security_group_id == "sg-0alb0000000000000"])
    )
    error_message = "the ALB's four inbound rules must be planned on the security group that exists"
  }
}
