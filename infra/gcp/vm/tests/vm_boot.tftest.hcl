# infra/gcp/vm's VM boot, release reads and data disk on planned values (mock provider): releases come
# from the release bucket with the VM's own service account (objectViewer on the prefix only), the
# public key is Cloud KMS's, and the database lives on a persistent disk the VM does not own.

mock_provider "google" {
  override_during = plan

  override_data {
    target = data.google_compute_image.os
    values = { self_link = "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/ubuntu-2404-noble-amd64-v20260101" }
  }
  override_data {
    target = data.google_kms_crypto_key_version.release_signing
    values = {
      algorithm  = "EC_SIGN_P256_SHA256"
      public_key = [{ algorithm = "EC_SIGN_P256_SHA256", pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n" }]
    }
  }
}

variables {
  project_id               = "shipshape-test-123456"
  vm_service_account_email = "shipshape-vm@shipshape-test-123456.iam.gserviceaccount.com"
  release_bucket           = "shipshape-test-releases"
  release_signing_key      = "projects/shipshape-test-123456/locations/us-central1/keyRings/shipshape/cryptoKeys/release-signing"
}

run "vm_boot" {
  command = plan

  # Known at plan time, so the VM's interface can be compared with the subnet and the static address.
  override_resource {
    target          = google_compute_subnetwork.vm
    override_during = plan
    values          = { id = "projects/shipshape-test-123456/regions/us-central1/subnetworks/shipshape" }
  }
  override_resource {
    target          = google_compute_address.vm
    override_during = plan
    values          = { address = "203.0.113.10" }
  }

  assert {
    condition     = google_compute_instance.vm.metadata["user-data"] == module.boot.user_data
    error_message = "The VM must boot the vm-boot module's user data."
  }
  assert {
    condition     = strcontains(module.boot.files["/etc/shipshape/release.env"], "RELEASE_SOURCE=\"gcs\"\n") && strcontains(module.boot.files["/etc/shipshape/release.env"], "RELEASE_BUCKET=\"shipshape-test-releases\"\n") && strcontains(module.boot.files["/etc/shipshape/release.env"], "RELEASE_ENDPOINT=\"https://storage.googleapis.com\"\n")
    error_message = "The VM must read releases from the release bucket through the Cloud Storage JSON API."
  }
  assert {
    condition     = module.boot.files["/etc/shipshape/release-signing.pem"] == data.google_kms_crypto_key_version.release_signing.public_key[0].pem
    error_message = "The boot configuration must carry the Cloud KMS signing key's public key."
  }
  assert {
    condition     = module.boot.files["/etc/shipshape/data-disk.env"] == "DATA_DISK=/dev/disk/by-id/google-shipshape-data\n" && google_compute_instance.vm.attached_disk[0].device_name == "shipshape-data" && google_compute_instance.vm.attached_disk[0].mode == "READ_WRITE"
    error_message = "The database must live on the attached data disk (device name shipshape-data)."
  }
  assert {
    condition     = google_compute_disk.data.size == 10 && google_compute_disk.data.zone == var.zone
    error_message = "The data disk must be a separate persistent disk in the VM's zone."
  }
  assert {
    condition     = google_compute_instance.vm.service_account[0].email == var.vm_service_account_email
    error_message = "The VM must run as the bootstrap's service account (it reads the releases; the firewall targets it)."
  }
  assert {
    condition     = contains(google_compute_instance.vm.service_account[0].scopes, "https://www.googleapis.com/auth/devstorage.read_only")
    error_message = "The VM needs the read-only storage scope to read releases."
  }
  assert {
    condition     = google_compute_instance.vm.shielded_instance_config[0].enable_secure_boot && google_compute_instance.vm.shielded_instance_config[0].enable_vtpm && google_compute_instance.vm.shielded_instance_config[0].enable_integrity_monitoring
    error_message = "The VM must be a Shielded VM: secure boot, vTPM and integrity monitoring."
  }
  assert {
    condition     = google_compute_instance.vm.metadata["enable-oslogin"] == "TRUE" && google_compute_instance.vm.metadata["block-project-ssh-keys"] == "TRUE" && google_compute_instance.vm.metadata["serial-port-enable"] == "FALSE"
    error_message = "SSH must go through OS Login only (no project-wide keys) and the serial port must be off."
  }
  assert {
    condition     = length(setintersection(keys(google_compute_instance.vm.metadata), ["ssh-keys", "sshKeys"])) == 0
    error_message = "No SSH keys in the instance metadata: keys come from OS Login only."
  }
  assert {
    condition     = google_compute_instance.vm.can_ip_forward == false
    error_message = "The VM must not forward packets it does not own."
  }
  assert {
    condition     = length(google_compute_instance.vm.network_interface) == 1 && google_compute_instance.vm.network_interface[0].subnetwork == google_compute_subnetwork.vm.id
    error_message = "The VM must have one network interface, in the stack's subnet."
  }
  assert {
    condition     = length(google_compute_instance.vm.network_interface[0].access_config) == 1 && google_compute_instance.vm.network_interface[0].access_config[0].nat_ip == google_compute_address.vm.address && length(google_compute_instance.vm.network_interface[0].ipv6_access_config) == 0
    error_message = "The VM's one external address must be the stack's static IPv4 address (no external IPv6)."
  }
}

run "non_p256_signing_key_is_refused" {
  command = plan

  override_data {
    target = data.google_kms_crypto_key_version.release_signing
    values = { algorithm = "RSA_SIGN_PKCS1_2048_SHA256", public_key = [{ algorithm = "RSA_SIGN_PKCS1_2048_SHA256", pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n" }] }
  }

  expect_failures = [data.google_kms_crypto_key_version.release_signing]
}
