# The release signing key: Cloud KMS, asymmetric, EC_SIGN_P256_SHA256 (ECDSA P-256 over a SHA-256 digest),
# exactly what `cosign sign-blob --key gcpkms://...` uses and what
# `openssl dgst -sha256 -verify pub.pem -signature <sig> <binary>` verifies on the VM. Only the deploy
# identity can sign; the public key is an output for infra/gcp/vm's boot configuration.
# https://cloud.google.com/kms/docs/algorithms#elliptic_curve_signing_algorithms

resource "google_kms_key_ring" "this" {
  name     = var.name
  project  = var.project_id
  location = var.region

  depends_on = [google_project_service.required]
}

resource "google_kms_crypto_key" "release_signing" {
  # checkov:skip=CKV_GCP_43:Cloud KMS cannot rotate asymmetric keys automatically; rotate by adding a version and switching cosign_key_uri and the VMs' public key (README)
  # checkov:skip=CKV_GCP_82:Cloud KMS never deletes a key; a destroy only schedules its versions for destruction, restorable for destroy_scheduled_duration (30 days). prevent_destroy would also stop terraform test from cleaning up
  name     = "${var.name}-release-signing"
  key_ring = google_kms_key_ring.this.id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = "EC_SIGN_P256_SHA256"
    protection_level = var.signing_key_protection_level
  }

  # A destroyed key version cannot be recovered: 30 days (the default, written out) to undo a mistake.
  destroy_scheduled_duration = "2592000s"

  # No prevent_destroy: Cloud KMS never deletes a key; `terraform destroy` only schedules its versions
  # for destruction, and destroy_scheduled_duration leaves 30 days to restore them.
}

# Version 1 is created with the key. Pinning the version (not "the newest enabled") keeps the signer and
# the VMs' public key in step through a rotation.
data "google_kms_crypto_key_version" "release_signing" {
  crypto_key = google_kms_crypto_key.release_signing.id
  version    = 1
}
