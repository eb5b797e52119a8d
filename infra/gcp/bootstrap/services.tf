# Every API the bootstrap and the pipeline's stacks use, enabled here by the administrator, once. The
# pipeline's identities cannot enable APIs they were not meant to use, and a fresh project's first
# `terraform plan` of infra/gcp/vm (which reads images and keys) works in one pass.
# disable_on_destroy = false: destroying this stack must not switch off APIs other things may use.
# (Service Usage itself must already be on; it is in every new project.)
resource "google_project_service" "required" {
  for_each = toset([
    # This stack and workload identity federation (the token exchange and impersonation).
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "storage.googleapis.com",
    "cloudkms.googleapis.com",
    # What infra/gcp/vm manages and reads.
    "compute.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
