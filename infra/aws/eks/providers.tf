provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project   = "shipshape"
      ManagedBy = "terraform"
      Stack     = "aws/eks"
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
