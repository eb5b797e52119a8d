provider "google" {
  project = var.project_id
  region  = var.region
  zone    = var.zone

  # GCP label keys and values are lowercase with no "/", so the AWS tags
  # Project/ManagedBy/Stack = aws/vm become these; every resource that takes labels gets them.
  default_labels = merge(var.labels, {
    project    = "shipshape"
    managed-by = "terraform"
    stack      = "gcp-vm"
  })
}
