# The Terraform state bucket of every GCP stack: <prefix>/default.tfstate, locked by <prefix>/default.tflock
# (the GCS backend's own lock object). Versioned, so every state write can be undone; uniform
# bucket-level access (IAM only, no object ACLs) and public access prevention enforced.
#
# Encryption: Google-managed keys. A customer-managed key (CMEK) would not gate reads here: Cloud Storage
# decrypts with its own service agent for any caller holding storage.objects.get, so who can read state
# is decided by the IAM below either way (README, "Encryption").

locals {
  state_bucket_name = "${var.project_id}-${var.name}-tfstate"
  state_objects     = "projects/_/buckets/${local.state_bucket_name}/objects"
}

resource "google_storage_bucket" "state" {
  # checkov:skip=CKV_GCP_62:Data Access audit logs (audit.tf) record every object read and write; usage logs are the legacy mechanism
  name                        = local.state_bucket_name
  project                     = var.project_id
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Older state versions go only when they are both old and not among the newest few.
  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      num_newer_versions         = var.state_noncurrent_versions_kept
      days_since_noncurrent_time = var.state_noncurrent_version_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # No prevent_destroy (it would also stop `terraform test` from cleaning up its mock runs): with
  # force_destroy = false, Cloud Storage itself refuses to delete a bucket that still holds objects, and
  # this one always holds at least this stack's own state.

  depends_on = [google_project_service.required]
}
