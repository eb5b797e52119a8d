# The release signing key's public half (Cloud KMS, EC_SIGN_P256_SHA256): the VM refuses any binary
# whose signature does not verify with it.
data "google_kms_crypto_key_version" "release_signing" {
  crypto_key = var.release_signing_key
  version    = var.release_signing_key_version

  lifecycle {
    postcondition {
      condition     = self.algorithm == "EC_SIGN_P256_SHA256"
      error_message = "The release signing key must be EC_SIGN_P256_SHA256 (the signature format the VM verifies)."
    }
  }
}

# The same boot configuration as the AWS stack (infra/modules/vm-boot): the VM reads the release
# pointer from the release bucket with its own service account, and keeps its database on the data
# disk, which outlives the VM.
module "boot" {
  source = "../../modules/vm-boot"

  name = var.name
  release = {
    source         = "gcs"
    bucket         = var.release_bucket
    prefix         = var.release_prefix
    endpoint       = "https://storage.googleapis.com"
    public_key_pem = data.google_kms_crypto_key_version.release_signing.public_key[0].pem
  }
  environment      = var.environment
  data_disk_device = "/dev/disk/by-id/google-${local.data_device_name}"
}

locals {
  data_device_name = "shipshape-data"
}

data "google_compute_image" "os" {
  project     = var.image_project
  family      = var.image_family
  most_recent = true

  # On a fresh project the Compute API must be on before this read.
  depends_on = [google_project_service.required]
}

# The database: a persistent disk of its own, never deleted with the VM (no auto-delete); a replaced VM
# attaches it again and finds its users.
resource "google_compute_disk" "data" {
  name = "${var.name}-data"
  type = var.boot_disk_type
  zone = var.zone
  size = var.data_disk_size_gb
  # null = Google-managed encryption keys; a key here = CMEK (same as the boot disk).
  dynamic "disk_encryption_key" {
    for_each = var.boot_disk_kms_key == null ? [] : [var.boot_disk_kms_key]
    content {
      kms_key_self_link = disk_encryption_key.value
    }
  }

  labels = { service = "shipshape", role = "data" }

  depends_on = [google_project_service.required]

  lifecycle {
    prevent_destroy = true
  }
}

# Releases never change the boot configuration (the VM reads the pointer itself and installs in
# place), so releases never replace the VM. A changed boot configuration (units, environment, key)
# does, since cloud-init runs once per instance; the data disk moves to the new VM.

resource "google_compute_instance" "vm" {
  # checkov:skip=CKV_GCP_40: the service is public by design: /hello on a public IP; the address is static, and the firewall opens only 80, 443, ICMP and 22 from 104.154.0.0/15
  name         = var.name
  description  = "shipshape hello service (GET /hello) on port 80"
  machine_type = var.machine_type
  zone         = var.zone

  boot_disk {
    auto_delete = true
    # null = Google-managed encryption keys (every disk is encrypted); a key here = CMEK.
    kms_key_self_link = var.boot_disk_kms_key

    initialize_params {
      image = data.google_compute_image.os.self_link
      size  = var.boot_disk_size_gb
      type  = var.boot_disk_type
    }
  }

  attached_disk {
    source      = google_compute_disk.data.self_link
    device_name = local.data_device_name
    mode        = "READ_WRITE"
  }

  network_interface {
    subnetwork = google_compute_subnetwork.vm.id

    access_config {
      nat_ip       = google_compute_address.vm.address
      network_tier = google_compute_address.vm.network_tier
    }
  }

  service_account {
    # The VM's own identity, made and granted by infra/gcp/bootstrap (logs, metrics, reading the
    # releases): the apply identity may attach it, never create accounts or grant roles.
    email = var.vm_service_account_email
    # Access scopes narrowed to what the Ops Agent writes and the release reads, on top of its roles.
    scopes = [
      "https://www.googleapis.com/auth/logging.write",
      "https://www.googleapis.com/auth/monitoring.write",
      "https://www.googleapis.com/auth/devstorage.read_only",
    ]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  scheduling {
    automatic_restart   = true
    on_host_maintenance = "MIGRATE"
    preemptible         = false
  }

  metadata = {
    # Ubuntu's cloud-init reads this key from the GCE metadata server on first boot.
    user-data = module.boot.user_data
    # The guest agent runs this on every boot; it installs the Ops Agent once. "" = nothing to run.
    startup-script = var.install_ops_agent ? file("${path.module}/scripts/ops-agent.sh") : ""
    # Logins only through OS Login (IAM-controlled, audited): no project-wide or instance SSH
    # keys, and no interactive serial console.
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
    serial-port-enable     = "FALSE"
  }

  can_ip_forward            = false
  deletion_protection       = var.deletion_protection
  allow_stopping_for_update = true

  labels = {
    service = "shipshape"
    role    = "hello"
  }

  # The first boot downloads the release: the route to the internet exists before the VM does.
  depends_on = [google_compute_route.internet]

  lifecycle {
    # A newer image in the family must not replace the VM on an unrelated apply.
    ignore_changes = [boot_disk[0].initialize_params[0].image]
  }
}
