# Account facts and the computed attributes the stack's policies and outputs use, so planned values are real.
override_data {
  target          = data.aws_caller_identity.current
  override_during = plan
  values          = { account_id = "123456789012" }
}

override_data {
  target          = data.aws_partition.current
  override_during = plan
  values          = { partition = "aws" }
}

override_data {
  target          = module.state_bucket.data.aws_partition.current
  override_during = plan
  values          = { partition = "aws" }
}

override_data {
  target          = module.releases_bucket.data.aws_partition.current
  override_during = plan
  values          = { partition = "aws" }
}

override_data {
  target          = module.logs_bucket.data.aws_partition.current
  override_during = plan
  values          = { partition = "aws" }
}

override_data {
  target          = data.aws_kms_public_key.cosign
  override_during = plan
  values          = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmock\n-----END PUBLIC KEY-----\n" }
}

override_resource {
  target          = aws_kms_key.state
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000000a", key_id = "00000000-0000-4000-8000-00000000000a" }
}

override_resource {
  target          = aws_kms_key.artifacts
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000000b", key_id = "00000000-0000-4000-8000-00000000000b" }
}

override_resource {
  target          = aws_kms_key.cosign
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-00000000000c", key_id = "00000000-0000-4000-8000-00000000000c" }
}

override_resource {
  target          = aws_kms_alias.cosign
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:alias/shipshape-cosign" }
}

override_resource {
  target          = aws_ecr_repository.this
  override_during = plan
  values          = { repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shipshape" }
}
