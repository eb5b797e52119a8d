# Who read or wrote state and releases, and who signed: Data Access audit logs for Cloud Storage and
# Cloud KMS (Admin Activity logs, e.g. IAM and bucket changes, are always on). This is the GCP
# counterpart of the AWS bootstrap's S3 access logs, and is project-wide: keep the project for shipshape.
# https://cloud.google.com/logging/docs/audit/configure-data-access
resource "google_project_iam_audit_config" "data_access" {
  for_each = toset(["storage.googleapis.com", "cloudkms.googleapis.com"])

  project = var.project_id
  service = each.value

  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }

  # Resource Manager may still be off in a fresh project.
  depends_on = [google_project_service.required]
}
