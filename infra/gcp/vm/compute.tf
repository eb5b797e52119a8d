locals {
  repo_root = "${path.module}/../../.."

  # The service's environment (/etc/shipshape/shipshape.env). Port 80 is served directly; the
  # unit grants CAP_NET_BIND_SERVICE. State lives in the unit's StateDirectory.
  environment = merge(
    {
      BIND_ADDRESS = "0.0.0.0"
      PORT         = "80"
      DATABASE_URL = "sqlite:///var/lib/shipshape/shipshape.db"
      LOG_FORMAT   = "json"
    },
    var.app_environment,
  )

  # The same template and unit the AWS stack boots (deploy/), with the contract's vars exactly.
  user_data = templatefile("${local.repo_root}/deploy/cloud-init/user-data.yaml.tftpl", {
    binary_url    = var.binary_url
    binary_sha256 = var.binary_sha256
    systemd_unit  = file("${local.repo_root}/deploy/systemd/shipshape.service")
    environment   = local.environment
    # No CloudWatch on GCP: logs go through the Ops Agent (scripts/ops-agent.sh) instead.
    cloudwatch_agent_config = ""
  })
}

data "google_compute_image" "os" {
  project     = var.image_project
  family      = var.image_family
  most_recent = true
}

# The VM's own identity: it may write logs and metrics, nothing else. Not the Compute Engine
# default service account, which holds Editor on the project in many organisations.
resource "google_service_account" "vm" {
  account_id   = "${var.name}-vm-sa"
  display_name = "shipshape hello VM"
  description  = "Runtime identity of the shipshape VM (Terraform: infra/gcp/vm); log and metric writer only"

  depends_on = [google_project_service.required]
}

resource "google_project_iam_member" "vm" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.vm.member
}

# cloud-init runs user-data on the first boot only, so a changed release (URL, checksum, unit or
# environment) must give a new VM to take effect. This records the boot configuration's hash;
# the VM below is replaced whenever it changes (see README, Deploy and rollback).
resource "terraform_data" "boot_config" {
  input = sha256(local.user_data)
}

resource "google_compute_instance" "vm" {
  # checkov:skip=CKV_GCP_40: the seed requires a public IP serving /hello; the address is static, and the firewall opens only 80, 443, ICMP and 22 from 104.154.0.0/15
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

  network_interface {
    subnetwork = google_compute_subnetwork.vm.id

    access_config {
      nat_ip       = google_compute_address.vm.address
      network_tier = google_compute_address.vm.network_tier
    }
  }

  service_account {
    email = google_service_account.vm.email
    # Access scopes narrowed to what the Ops Agent writes, on top of the IAM roles above.
    scopes = [
      "https://www.googleapis.com/auth/logging.write",
      "https://www.googleapis.com/auth/monitoring.write",
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
    user-data = local.user_data
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

  # The first boot already ships logs: the roles exist before the VM does.
  depends_on = [google_project_iam_member.vm, google_compute_route.internet]

  lifecycle {
    replace_triggered_by = [terraform_data.boot_config]
    # A newer image in the family must not replace the VM on an unrelated apply; each
    # replacement (a release) boots the family's newest image anyway.
    ignore_changes = [boot_disk[0].initialize_params[0].image]
  }
}
