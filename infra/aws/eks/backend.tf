# Partial configuration: bucket, region (and kms_key_id) come from -backend-config at init, written by
# the bootstrap stack (infra/aws/bootstrap), so no account data is committed here. The key is fixed so
# the bootstrap's IAM roles can be scoped to this stack's state object.
terraform {
  backend "s3" {
    key          = "aws/eks/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
