# The account facts and computed attributes of infra/aws/vm that its tests read, so planned values
# are real (tests/vm.tftest.hcl, tests/migration.tftest.hcl).

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:role/ci" }
}
override_data {
  target = data.aws_partition.current
  values = { partition = "aws", dns_suffix = "amazonaws.com" }
}
override_data {
  target = data.aws_region.current
  values = { region = "us-east-1", name = "us-east-1" }
}
override_data {
  target = data.aws_availability_zones.available
  values = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
}
override_data {
  target = data.aws_ssm_parameter.ami
  values = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
}
override_data {
  target = data.aws_ami.selected
  values = { id = "ami-0123456789abcdef0", root_device_name = "/dev/xvda" }
}
override_data {
  target = data.aws_default_tags.current
  values = { tags = {} }
}
override_data {
  target = data.aws_s3_bucket.releases
  values = { region = "us-east-1", arn = "arn:aws:s3:::shipshape-releases-123456789012-us-east-1" }
}
override_data {
  target = data.aws_kms_public_key.release_signing
  values = {
    arn                      = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001"
    customer_master_key_spec = "ECC_NIST_P256"
    key_usage                = "SIGN_VERIFY"
    public_key_pem           = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
  }
}
override_resource {
  target = aws_ebs_volume.data
  values = { id = "vol-0123456789abcdef0" }
}
# Names as IAM makes them from name_prefix, so references to the roles are known in the plan
# (tests/infra/test_aws_stacks_iam.py evaluates what apply does with each).
override_resource {
  target = aws_iam_role.instance
  values = { name = "shipshape-vm-20260101000000000000000001", id = "shipshape-vm-20260101000000000000000001", arn = "arn:aws:iam::123456789012:role/shipshape-vm-20260101000000000000000001" }
}
override_resource {
  target = aws_iam_role.flow_logs
  values = { name = "shipshape-flowlogs-20260101000000000000000002", id = "shipshape-flowlogs-20260101000000000000000002", arn = "arn:aws:iam::123456789012:role/shipshape-flowlogs-20260101000000000000000002" }
}
override_resource {
  target = aws_iam_instance_profile.instance
  values = { name = "shipshape-vm-20260101000000000000000003", id = "shipshape-vm-20260101000000000000000003", arn = "arn:aws:iam::123456789012:instance-profile/shipshape-vm-20260101000000000000000003" }
}
override_resource {
  target = aws_kms_key.data
  values = { arn = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-0000-4000-8000-0000000000d0", key_id = "0b1c2d3e-0000-4000-8000-0000000000d0" }
}
override_resource {
  target = module.network.aws_vpc.this
  values = { ipv6_cidr_block = "2600:1f18:1234:5600::/56", default_network_acl_id = "acl-0123" }
}
override_resource {
  target = aws_kms_key.logs
  values = { key_id = "0a1b2c3d-0000-4000-8000-000000000001", arn = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001" }
}
