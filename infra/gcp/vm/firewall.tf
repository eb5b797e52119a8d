# The firewall, exactly as specified, and nothing more:
#   ingress allowed: TCP 80 and 443 from everywhere, ICMP from everywhere, TCP 22 from
#   104.154.0.0/15 (Google LLC), all TCP and UDP from inside the VPC; everything else denied.
#   egress: everything allowed except TCP 6881-6889 (BitTorrent) to anywhere.
#
# GCP evaluates rules by priority (lower number first; the first match decides), and every VPC
# has two implied rules at 65535: deny all ingress, allow all egress. Those are written out at
# 65534 so the whole policy is in code and the ingress deny can be logged (implied rules cannot).
# The public openings (web, ICMP, SSH) target the VM's service account (var.vm_service_account_email, made
# by infra/gcp/bootstrap), not a network tag: only someone allowed to act as that account can put a VM
# behind them, whereas any instance admin can set a tag. Internal traffic, the denies and the egress allow
# apply to every instance of the VPC, like the AWS stack's network ACL.
#
# tests/infra/test_gcp_vm.py evaluates the planned rules like GCP does (priorities, implied rules,
# targets) against the policy above, and plants mistakes that it must catch.

locals {
  anywhere_ipv4   = "0.0.0.0/0"
  ssh_source_cidr = "104.154.0.0/15" # as specified: SSH only from this Google LLC range
}

resource "google_compute_firewall" "allow_web" {
  # checkov:skip=CKV_GCP_106: the specification requires TCP 80 from everywhere: the hello page is public at http://<ip>/hello
  name        = "${var.name}-allow-web"
  description = "HTTP and HTTPS to the VM from everywhere"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  priority    = 1000

  source_ranges           = [local.anywhere_ipv4]
  target_service_accounts = [var.vm_service_account_email]

  allow {
    protocol = "tcp"
    ports    = ["80", "443"]
  }
}

resource "google_compute_firewall" "allow_icmp" {
  name        = "${var.name}-allow-icmp"
  description = "ICMP (ping) to the VM from everywhere; GCP rules cannot narrow ICMP to one type"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  priority    = 1000

  source_ranges           = [local.anywhere_ipv4]
  target_service_accounts = [var.vm_service_account_email]

  allow {
    protocol = "icmp"
  }
}

resource "google_compute_firewall" "allow_ssh" {
  name        = "${var.name}-allow-ssh"
  description = "SSH to the VM only from 104.154.0.0/15 (Google LLC); logins go through OS Login"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  priority    = 1000

  source_ranges           = [local.ssh_source_cidr]
  target_service_accounts = [var.vm_service_account_email]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  dynamic "log_config" {
    for_each = var.firewall_logging ? [1] : []
    content {
      metadata = "INCLUDE_ALL_METADATA"
    }
  }
}

# Between hosts inside the VPC: every instance of the network, from every range of every subnet
# (network.tf, local.vpc_ranges). No target: the rule is about the VPC, not about this one VM.
resource "google_compute_firewall" "allow_internal" {
  name        = "${var.name}-allow-internal"
  description = "All TCP and UDP between hosts inside the VPC (every primary and secondary subnet range)"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  priority    = 1000

  source_ranges = local.vpc_ranges

  # No ports: every TCP and every UDP port.
  allow {
    protocol = "tcp"
  }
  allow {
    protocol = "udp"
  }
}

resource "google_compute_firewall" "deny_ingress" {
  name        = "${var.name}-deny-ingress"
  description = "Everything else inbound is denied (the implied rule, written out so it can log)"
  network     = google_compute_network.vpc.id
  direction   = "INGRESS"
  priority    = 65534

  source_ranges = [local.anywhere_ipv4]

  deny {
    protocol = "all"
  }

  dynamic "log_config" {
    for_each = var.firewall_logging ? [1] : []
    content {
      metadata = "EXCLUDE_ALL_METADATA"
    }
  }
}

resource "google_compute_firewall" "deny_torrent_egress" {
  name        = "${var.name}-deny-torrent-egress"
  description = "No BitTorrent (TCP 6881-6889) to anywhere; evaluated before the egress allow"
  network     = google_compute_network.vpc.id
  direction   = "EGRESS"
  priority    = 900

  destination_ranges = [local.anywhere_ipv4]

  deny {
    protocol = "tcp"
    ports    = ["6881-6889"]
  }

  dynamic "log_config" {
    for_each = var.firewall_logging ? [1] : []
    content {
      metadata = "INCLUDE_ALL_METADATA"
    }
  }
}

resource "google_compute_firewall" "allow_egress" {
  name        = "${var.name}-allow-egress"
  description = "Everything else outbound is allowed (the implied rule, written out)"
  network     = google_compute_network.vpc.id
  direction   = "EGRESS"
  priority    = 65534

  destination_ranges = [local.anywhere_ipv4]

  allow {
    protocol = "all"
  }
}
