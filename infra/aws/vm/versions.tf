terraform {
  # 1.10: S3 backend native locking (use_lockfile); 1.9+: cross-variable validation used in variables.tf.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
