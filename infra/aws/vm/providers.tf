provider "aws" {
  region = var.region

  # Every taggable resource carries these, so cost reports and the deploy targeting can find the stack.
  default_tags {
    tags = merge(var.tags, {
      Project   = "shipshape"
      ManagedBy = "terraform"
      Stack     = "aws/vm"
    })
  }
}
