terraform {
  # 1.10 is the floor the AWS sibling uses too; nothing here needs newer (cross-variable
  # validation needs 1.9).
  required_version = ">= 1.10"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.9.0"
    }
  }
}
