# Planned (and mock-applied) values of the EKS stack. Mock providers: no AWS account is touched.
# The probes in tests/infra/test_aws_eks.py read the same runs' JSON and add mutation tests.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
  mock_data "aws_route53_zone" {
    defaults = { name = "example.com." }
  }
  mock_data "aws_eks_addon_version" {
    defaults = { version = "v0.8.0-eksbuild.5" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address            = "shipshape-postgres.abcdefghijkl.us-east-1.rds.amazonaws.com"
      port               = 5432
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123-abcdef", kms_key_id = "k", secret_status = "active" }]
      ca_cert_identifier = "rds-ca-rsa2048-g1"
    }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      arn = "arn:aws:eks:us-east-1:123456789012:cluster/shipshape"
      vpc_config = {
        cluster_security_group_id = "sg-0cluster0000000000"
        vpc_id                    = "vpc-0123"
      }
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
      domain_validation_options = [{
        domain_name           = "shipshape.example.com"
        resource_record_name  = "_x.shipshape.example.com."
        resource_record_type  = "CNAME"
        resource_record_value = "_y.acm-validations.aws."
      }]
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = { certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789" }
  }
  mock_resource "aws_prometheus_scraper" {
    defaults = { role_arn = "arn:aws:iam::123456789012:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_abc" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/x-AbCdEf" }
  }
}

# Each role's ARN from its name, as IAM makes it: tests/infra/test_aws_stacks_iam.py evaluates what the
# bootstrap's apply role may do with each of them (create, pass to a service).
override_resource {
  target = aws_iam_role.cluster
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-eks-cluster" }
}
override_resource {
  target = aws_iam_role.node
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-eks-node" }
}
override_resource {
  target = aws_iam_role.external_secrets
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-external-secrets" }
}
override_resource {
  target = aws_iam_role.external_dns
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-external-dns" }
}
override_resource {
  target = aws_iam_role.flow_logs
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-vpc-flow-logs" }
}
override_resource {
  target = aws_iam_role.rds_monitoring
  values = { arn = "arn:aws:iam::123456789012:role/shipshape-rds-monitoring" }
}

# Distinct ARNs for the two login secrets (mock defaults would give both the same).
override_resource {
  target = aws_secretsmanager_secret.db_role["app"]
  values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/app-AbCdEf" }
}
override_resource {
  target = aws_secretsmanager_secret.db_role["owner"]
  values = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/owner-GhIjKl" }
}

variables {
  admin_role_arn                 = "arn:aws:iam::123456789012:role/platform-admin"
  deploy_role_arn                = "arn:aws:iam::123456789012:role/shipshape-ci-deploy"
  stack_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/shipshape-ci-stack-boundary"
  route53_zone_id                = "Z0123456789ABCDEFGHIJ"
  domain_name                    = "shipshape.example.com"
}

# The defaults, mock-applied so outputs (helm_values, rendered manifests) have their values.
run "defaults" {
  command = apply

  assert {
    condition     = aws_eks_cluster.this.version == "1.35"
    error_message = "the default Kubernetes version is not 1.35"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access && aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "the API must be private and (for the CircleCI deploy job) public from CircleCI's ranges"
  }
  assert {
    condition     = alltrue([for c in aws_eks_cluster.this.vpc_config[0].public_access_cidrs : endswith(c, "/32")]) && length(aws_eks_cluster.this.vpc_config[0].public_access_cidrs) == 21
    error_message = "the public endpoint admits something other than CircleCI's 21 job addresses"
  }
  assert {
    condition     = aws_db_instance.this.publicly_accessible == false && toset(aws_db_subnet_group.this.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "the database is not private"
  }
  assert {
    condition     = aws_eks_addon.metrics_server.addon_version == data.aws_eks_addon_version.metrics_server.version && data.aws_eks_addon_version.metrics_server.kubernetes_version == aws_eks_cluster.this.version
    error_message = "metrics-server is not the version AWS publishes for the pinned Kubernetes version"
  }
  assert {
    condition     = yamldecode(output.helm_values).autoscaling.minReplicas == 3 && yamldecode(output.helm_values).autoscaling.maxReplicas == 12
    error_message = "helm_values does not give production 3..12 pods (the chart README's promise)"
  }
  assert {
    condition     = yamldecode(output.helm_values).topologySpread.zoneWhenUnsatisfiable == "DoNotSchedule"
    error_message = "the EKS values do not spread pods over zones as a hard constraint"
  }
}

# The pipeline's access can be turned off; the endpoint is then private only.
run "no_ci_access" {
  command = plan

  variables {
    ci_api_access = "none"
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false
    error_message = "with ci_api_access = none and no extra CIDRs the public endpoint must be off"
  }
}

# Variable validation refuses an API open to the world.
run "open_api_refused" {
  command = plan

  variables {
    cluster_public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.cluster_public_access_cidrs]
}

# A version without a dated support entry is refused.
run "unknown_kubernetes_version_refused" {
  command = plan

  variables {
    kubernetes_version = "1.31"
  }

  expect_failures = [var.kubernetes_version]
}

# The same stack in another region than us-east-1 (where Route 53 health check metrics and their alarm
# live), mock-applied: tests/infra/test_aws_stacks_iam.py checks the apply role of a bootstrap in that
# region can create all of it.
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

# The pipeline's apply role may not give a CI role cluster access (infra/aws/bootstrap): refused here first.
run "ci_role_as_platform_role_refused" {
  command = plan

  variables {
    platform_role_arn = "arn:aws:iam::123456789012:role/shipshape-ci-apply"
  }

  expect_failures = [var.platform_role_arn]
}

# Roles outside the bootstrap's "<name>-*" names could not be created by the apply role.
run "name_outside_the_bootstrap_names_refused" {
  command = plan

  variables {
    name = "acme"
  }

  expect_failures = [var.stack_permissions_boundary_arn]
}
