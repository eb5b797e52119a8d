# Planned values of infra/gcp/vm's network, firewall and monitoring with a mock google provider (no cloud,
# no credentials). The firewall is evaluated rule by rule, like GCP does, by tests/infra/test_gcp_vm.py on
# the plans of the runs "defaults" and "more_ranges".

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
  project_id               = "shipshape-test-1"
  vm_service_account_email = "shipshape-vm@shipshape-test-1.iam.gserviceaccount.com"
  release_bucket           = "shipshape-test-1-shipshape-releases"
  release_signing_key      = "projects/shipshape-test-1/locations/us-central1/keyRings/shipshape/cryptoKeys/shipshape-release-signing"
}

run "defaults" {
  command = plan

  assert {
    condition     = google_compute_network.vpc.auto_create_subnetworks == false && google_compute_network.vpc.delete_default_routes_on_create
    error_message = "Custom-mode VPC without the default routes: every route and subnet is in code."
  }

  assert {
    condition     = google_compute_route.internet.dest_range == "0.0.0.0/0" && google_compute_route.internet.next_hop_gateway == "default-internet-gateway"
    error_message = "The one route to the internet goes through the default internet gateway."
  }

  assert {
    condition     = google_compute_subnetwork.vm.stack_type == "IPV4_ONLY" && google_compute_subnetwork.vm.private_ip_google_access && length(google_compute_subnetwork.vm.log_config) == 1
    error_message = "The VM subnet is IPv4-only, reaches Google APIs privately and has flow logs."
  }

  assert {
    condition     = toset(google_compute_firewall.allow_internal.source_ranges) == toset(["10.20.0.0/24"]) && google_compute_firewall.allow_internal.target_service_accounts == null
    error_message = "With one subnet, inside the VPC is its range, for every instance of the VPC."
  }

  assert {
    condition = alltrue([
      for fw in [google_compute_firewall.allow_web, google_compute_firewall.allow_icmp, google_compute_firewall.allow_ssh] :
      toset(fw.target_service_accounts) == toset(["shipshape-vm@shipshape-test-1.iam.gserviceaccount.com"])
    ])
    error_message = "The public openings target the VM's service account only."
  }

  assert {
    condition     = google_monitoring_uptime_check_config.hello[0].http_check[0].path == "/hello" && google_monitoring_uptime_check_config.hello[0].content_matchers[0].content == "Hello World from BenchSci!"
    error_message = "The uptime check looks for the greeting itself on /hello."
  }

  assert {
    condition     = strcontains(google_monitoring_alert_policy.out_of_band_change[0].conditions[0].condition_matched_log[0].filter, "cloudaudit.googleapis.com%2Factivity") && strcontains(google_monitoring_alert_policy.out_of_band_change[0].conditions[0].condition_matched_log[0].filter, "/firewalls/shipshape-")
    error_message = "The out-of-band change alert reads the Admin Activity log for the stack's firewall rules."
  }
}

# Secondary ranges and another subnet: every one of their ranges is inside the VPC.
run "more_ranges" {
  command = plan

  variables {
    subnet_secondary_ranges = { containers = "10.21.0.0/20" }
    extra_subnets = {
      batch = { cidr = "10.30.0.0/24", region = "europe-west4", secondary_ranges = { pods = "10.31.0.0/20" } }
      tools = { cidr = "192.168.50.0/24" }
    }
  }

  assert {
    condition     = toset(google_compute_firewall.allow_internal.source_ranges) == toset(["10.20.0.0/24", "10.21.0.0/20", "10.30.0.0/24", "10.31.0.0/20", "192.168.50.0/24"])
    error_message = "Inside the VPC is every primary and secondary range of every subnet, got ${jsonencode(google_compute_firewall.allow_internal.source_ranges)}."
  }

  assert {
    condition     = toset(output.vpc_ranges) == toset(google_compute_firewall.allow_internal.source_ranges)
    error_message = "The vpc_ranges output is what the firewall uses."
  }

  assert {
    condition     = google_compute_subnetwork.extra["batch"].region == "europe-west4" && google_compute_subnetwork.extra["tools"].region == "us-central1"
    error_message = "Extra subnets go to their own region, or the stack's."
  }
}

run "service_account_is_validated" {
  command = plan

  variables {
    vm_service_account_email = "123456789-compute@developer.gserviceaccount.com"
  }

  expect_failures = [var.vm_service_account_email]
}

run "ranges_are_validated" {
  command = plan

  variables {
    subnet_secondary_ranges = { pods = "10.21.0.1/20" }
    extra_subnets           = { x = { cidr = "not-a-cidr" } }
  }

  expect_failures = [var.subnet_secondary_ranges, var.extra_subnets]
}
