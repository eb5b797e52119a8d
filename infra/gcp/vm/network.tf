# APIs the stack uses. disable_on_destroy = false: `terraform destroy` of this stack must not
# switch off Compute Engine for everything else that may live in the project.
resource "google_project_service" "required" {
  for_each = toset([
    "cloudresourcemanager.googleapis.com", # project IAM bindings
    "compute.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
  ])

  service            = each.value
  disable_on_destroy = false
}

# Custom-mode VPC: no auto-created subnet in every region, and none of the permissive rules a
# project's "default" network comes with (default-allow-ssh is 22 from 0.0.0.0/0).
resource "google_compute_network" "vpc" {
  name                    = "${var.name}-vpc"
  description             = "shipshape hello VM network (Terraform: infra/gcp/vm)"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  # The internet route is declared below instead, so every route of the VPC is in code.
  delete_default_routes_on_create = true

  depends_on = [google_project_service.required]
}

resource "google_compute_route" "internet" {
  name             = "${var.name}-internet"
  description      = "Default route to the internet gateway (the VM has an external IP, so no Cloud NAT)"
  network          = google_compute_network.vpc.id
  dest_range       = "0.0.0.0/0"
  next_hop_gateway = "default-internet-gateway"
  priority         = 1000
}

resource "google_compute_subnetwork" "vm" {
  name          = "${var.name}-subnet"
  description   = "The VM's subnet; its ranges are among the internal-traffic sources of firewall.tf"
  region        = var.region
  network       = google_compute_network.vpc.id
  ip_cidr_range = var.subnet_cidr
  stack_type    = "IPV4_ONLY"

  # Alias IP ranges (e.g. for containers on the VM); each is inside the VPC, so firewall.tf lets it in.
  dynamic "secondary_ip_range" {
    for_each = var.subnet_secondary_ranges
    content {
      range_name    = secondary_ip_range.key
      ip_cidr_range = secondary_ip_range.value
    }
  }

  # Google APIs (logging, monitoring) stay on Google's network even without the external IP.
  private_ip_google_access = true

  # VPC flow logs: the GCP counterpart of the AWS stack's VPC flow logs.
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Further subnets of the VPC (other regions, other workloads): what "inside the VPC" means grows with them.
resource "google_compute_subnetwork" "extra" {
  for_each = var.extra_subnets

  name          = "${var.name}-${each.key}"
  description   = "Additional subnet of the ${var.name} VPC; its ranges are internal-traffic sources of firewall.tf"
  region        = coalesce(each.value.region, var.region)
  network       = google_compute_network.vpc.id
  ip_cidr_range = each.value.cidr
  stack_type    = "IPV4_ONLY"

  private_ip_google_access = true

  dynamic "secondary_ip_range" {
    for_each = each.value.secondary_ranges
    content {
      range_name    = secondary_ip_range.key
      ip_cidr_range = secondary_ip_range.value
    }
  }

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

locals {
  # "Inside the VPC": every primary and secondary range of every subnet of the VPC, read from the subnets
  # themselves so that a subnet or range added here is inside at once. A custom-mode VPC has no range of
  # its own; GCP refuses overlapping subnet ranges in one VPC, so each address belongs to one subnet.
  vpc_ranges = concat(
    [google_compute_subnetwork.vm.ip_cidr_range],
    [for r in google_compute_subnetwork.vm.secondary_ip_range : r.ip_cidr_range],
    flatten([
      for s in google_compute_subnetwork.extra :
      concat([s.ip_cidr_range], [for r in s.secondary_ip_range : r.ip_cidr_range])
    ]),
  )
}

# The VM's public address; it survives VM replacement, so the URL stays the same across releases.
resource "google_compute_address" "vm" {
  name         = "${var.name}-ip"
  description  = "Static external IP of the shipshape hello VM"
  region       = var.region
  address_type = "EXTERNAL"
  network_tier = "PREMIUM"

  depends_on = [google_project_service.required]
}
