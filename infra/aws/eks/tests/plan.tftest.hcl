# Planned (and mock-applied) values of the EKS stack. Mock providers: no AWS account is touched.
# The probes in tests/infra/test_aws_eks.py read the same runs' JSON and add mutation tests.

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
    condition     = aws_db_instance.this.publicly_accessible == false && toset(aws_db_subnet_group.this.subnet_ids) == toset(module.network.private_subnet_ids)
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
