# Partial configuration: the bucket (created by infra/aws/bootstrap) and its region are given at init
# time, so no account data is committed:
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
terraform {
  backend "s3" {
    key     = "aws/vm/terraform.tfstate"
    encrypt = true
    # S3-native lock file (Terraform >= 1.10): no DynamoDB table to manage.
    use_lockfile = true
  }
}
