# infra/aws/vm on planned values, with a mock AWS provider (no cloud): the release is read by the VM
# (never a variable), the boot configuration, the data volume, the instance's release permissions, the
# scaling mode's users-API answer, and the one-region guard. tests/infra/test_aws_vm.py adds probes of
# the firewall and mutation tests on the same plans.

mock_provider "aws" {
  # Mocked computed values (ids, ARNs) already in the plan: every run is a plan, nothing is "created".
  override_during = plan
  source          = "./tests"
}

variables {
  release_bucket                 = "shipshape-releases-123456789012-us-east-1"
  stack_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/shipshape-ci-stack-boundary"
}

run "single_vm" {
  command = plan

  assert {
    condition     = aws_instance.vm[0].user_data == module.boot_vm.user_data
    error_message = "The VM must boot the vm-boot module's user data."
  }
  assert {
    condition = module.boot_vm.files["/etc/shipshape/release.env"] == join("", [
      "# Where shipshape-release reads releases (vm-boot module).\n",
      "METADATA_ENDPOINT=\"http://169.254.169.254\"\n",
      "RELEASE_BUCKET=\"shipshape-releases-123456789012-us-east-1\"\n",
      "RELEASE_ENDPOINT=\"https://shipshape-releases-123456789012-us-east-1.s3.us-east-1.amazonaws.com\"\n",
      "RELEASE_PREFIX=\"shipshape/\"\n",
      "RELEASE_REGION=\"us-east-1\"\n",
      "RELEASE_SOURCE=\"s3\"\n",
    ])
    error_message = "The VM must read releases from the release bucket's regional endpoint with S3 signatures: ${module.boot_vm.files["/etc/shipshape/release.env"]}"
  }
  assert {
    condition     = module.boot_vm.files["/etc/shipshape/release-signing.pem"] == data.aws_kms_public_key.release_signing.public_key_pem
    error_message = "The boot configuration must carry the KMS signing key's public key."
  }
  assert {
    condition     = module.boot_vm.files["/etc/shipshape/data-disk.env"] == "DATA_DISK=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0\n"
    error_message = "The VM's database must live on the data volume, found by its volume id."
  }
  assert {
    condition     = aws_ebs_volume.data[0].encrypted && aws_ebs_volume.data[0].type == "gp3" && aws_ebs_volume.data[0].availability_zone == module.network.availability_zones[0]
    error_message = "The data volume must be encrypted gp3 in the VM's zone."
  }
  assert {
    condition     = aws_volume_attachment.data[0].stop_instance_before_detaching && aws_volume_attachment.data[0].device_name == "/dev/sdf"
    error_message = "The data volume must be detached only from a stopped VM."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.instance.policy).Statement[0] == { Sid = "ReadReleases", Effect = "Allow", Action = "s3:GetObject", Resource = [
      "arn:aws:s3:::shipshape-releases-123456789012-us-east-1/shipshape/current.json",
      "arn:aws:s3:::shipshape-releases-123456789012-us-east-1/shipshape/releases/*",
    ] }
    error_message = "The instance role must read exactly the release objects: ${aws_iam_role_policy.instance.policy}"
  }
  assert {
    condition     = jsondecode(aws_ssm_document.deploy.content).mainSteps[0].inputs.runCommand[1] == "exec /usr/local/sbin/shipshape-release deploy" && !can(jsondecode(aws_ssm_document.deploy.content).parameters)
    error_message = "The SSM deploy document must run the VM's agent with no release parameters (the VM reads the pointer)."
  }
  assert {
    condition     = alltrue([for r in [aws_iam_role.instance, aws_iam_role.flow_logs] : r.permissions_boundary == var.stack_permissions_boundary_arn])
    error_message = "Every role of the stack must carry the bootstrap's boundary (the apply role may not create it otherwise)."
  }
  assert {
    condition     = aws_ebs_volume.data[0].kms_key_id == aws_kms_key.data[0].arn && aws_kms_key.data[0].enable_key_rotation
    error_message = "The data volume must be encrypted with the stack's own, rotated key."
  }
  assert {
    condition     = length(aws_lb_listener_rule.users_api_unavailable) == 0 && length(aws_launch_template.app) == 0
    error_message = "The single VM has no load balancer rules or launch template."
  }
}

run "scaling" {
  command = plan

  variables {
    enable_scaling  = true
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = tolist(aws_lb_listener_rule.users_api_unavailable[0].condition)[0].path_pattern[0].values == toset(["/api", "/api/*"])
    error_message = "The users API (/api and everything under it) must be answered by the ALB in scaling mode."
  }
  assert {
    condition     = aws_lb_listener_rule.users_api_unavailable[0].action[0].type == "fixed-response" && aws_lb_listener_rule.users_api_unavailable[0].action[0].fixed_response[0].status_code == "501" && aws_lb_listener_rule.users_api_unavailable[0].action[0].fixed_response[0].content_type == "application/json"
    error_message = "The users API must get a 501 JSON error in scaling mode."
  }
  assert {
    condition     = can(jsondecode(aws_lb_listener_rule.users_api_unavailable[0].action[0].fixed_response[0].message_body).error)
    error_message = "The error body must be JSON with an error field."
  }
  assert {
    condition     = !contains(keys(module.boot_asg.files), "/etc/shipshape/data-disk.env") && base64decode(aws_launch_template.app[0].user_data) == module.boot_asg.user_data
    error_message = "Instances of the group boot the module's user data without a data disk."
  }
  assert {
    condition     = length(aws_instance.vm) == 0 && length(aws_ebs_volume.data) == 0
    error_message = "Scaling mode has no single VM and no data volume."
  }
  assert {
    condition = {
      for k, r in aws_vpc_security_group_ingress_rule.alb : k => [r.ip_protocol, r.from_port, r.to_port, coalesce(r.cidr_ipv4, r.cidr_ipv6)]
      } == {
      http_ipv4  = ["tcp", 80, 80, "0.0.0.0/0"]
      http_ipv6  = ["tcp", 80, 80, "::/0"]
      https_ipv4 = ["tcp", 443, 443, "0.0.0.0/0"]
      https_ipv6 = ["tcp", 443, 443, "::/0"]
    }
    error_message = "The ALB admits exactly HTTP and HTTPS from everywhere, IPv4 and IPv6."
  }
}

run "name_outside_the_bootstrap_names_is_refused" {
  command = plan

  variables {
    name = "acme"
  }

  expect_failures = [var.stack_permissions_boundary_arn]
}

run "region_is_validated" {
  command = plan

  variables {
    region = "us_east_1"
  }

  expect_failures = [var.region]
}

run "bucket_in_another_region_is_refused" {
  command = plan

  override_data {
    target = data.aws_s3_bucket.releases
    values = { region = "eu-west-1" }
  }

  expect_failures = [data.aws_s3_bucket.releases]
}

run "signing_key_in_another_region_is_refused" {
  command = plan

  override_data {
    target = data.aws_kms_public_key.release_signing
    values = {
      arn                      = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001"
      customer_master_key_spec = "ECC_NIST_P256"
      key_usage                = "SIGN_VERIFY"
      public_key_pem           = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
    }
  }

  expect_failures = [data.aws_kms_public_key.release_signing]
}

run "rsa_signing_key_is_refused" {
  command = plan

  override_data {
    target = data.aws_kms_public_key.release_signing
    values = {
      arn                      = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001"
      customer_master_key_spec = "RSA_2048"
      key_usage                = "SIGN_VERIFY"
      public_key_pem           = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
    }
  }

  expect_failures = [data.aws_kms_public_key.release_signing]
}
