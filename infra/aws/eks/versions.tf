terraform {
  # 1.10 is the first release whose S3 backend locks with a lock file (use_lockfile), no DynamoDB table.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.x has aws_eks_cluster Auto Mode blocks (compute_config, storage_config, elastic_load_balancing),
      # cluster deletion_protection and RDS database_insights_mode.
      version = "~> 6.0"
    }
  }
}
