# VM releases (the shared release contract, docs/vm.md), under var.release_prefix (<p>):
# <p>releases/<version>/shipshape-linux-<arch> + .sha256 + .sig, the release pointer <p>current.json
# ({"version": ..., "sha256": ...}) that says which one the VMs run, and <p>previous.json (the rollback target).
#
#   the VMs' service account   reads <p>releases/* and <p>current.json, nothing else (not even a listing)
#   the publish identity        creates <p>releases/* (binary, checksum and signature are write-once: never
#                               replaced or deleted) and signs (scripts/publish-vm.sh), as on AWS
#   the deploy identity         reads and verifies releases, writes <p>current.json and <p>previous.json
#                               (scripts/deploy-vm.sh), never a release and never a signature
#
# Versioned: every overwritten pointer stays as a noncurrent version (what ran when). Releases are not
# expired by age: the one current.json names may be a year old and must still be there when a VM boots.

locals {
  release_bucket_name = "${var.project_id}-${var.name}-releases"
  release_objects     = "projects/_/buckets/${local.release_bucket_name}/objects"
  releases            = "${var.release_prefix}releases/"
  release_pointer     = "${var.release_prefix}current.json"
  release_previous    = "${var.release_prefix}previous.json"
}

resource "google_storage_bucket" "releases" {
  # checkov:skip=CKV_GCP_62:Data Access audit logs (audit.tf) record every object read and write; usage logs are the legacy mechanism
  name                        = local.release_bucket_name
  project                     = var.project_id
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      matches_prefix             = [local.release_pointer, local.release_previous]
      days_since_noncurrent_time = var.pointer_history_days
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

  # No prevent_destroy: with force_destroy = false, Cloud Storage refuses to delete a non-empty bucket.

  depends_on = [google_project_service.required]
}
