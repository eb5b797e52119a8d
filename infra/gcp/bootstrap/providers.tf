provider "google" {
  project = var.project_id
  region  = var.region

  # GCP label keys and values are lowercase with no "/": the AWS tags Project/ManagedBy/Stack become these.
  default_labels = merge(var.labels, {
    project    = "shipshape"
    managed-by = "terraform"
    stack      = "gcp-bootstrap"
  })
}

# The project number is part of every workload identity principal (principalSet://.../projects/<number>/...).
data "google_project" "this" {
  # Read after the APIs are on: Resource Manager may still be off in a fresh project.
  depends_on = [google_project_service.required]

  project_id = var.project_id
}
