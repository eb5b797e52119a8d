# The bootstrap stack creates the state bucket, so its very first apply runs on local state and is then
# migrated into the bucket it made (README: "First apply"). Partial configuration: bucket, region and
# kms_key_id come from -backend-config, so no account data is committed.
terraform {
  backend "s3" {
    key          = "aws/bootstrap/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
