# The vm-boot module on planned values: what the user data writes for each cloud, and the inputs it
# refuses. (The booted behaviour is proven by tests/e2e/vm.)

variables {
  release = {
    source         = "s3"
    bucket         = "rel-bucket"
    endpoint       = "https://rel-bucket.s3.us-east-1.amazonaws.com"
    region         = "us-east-1"
    public_key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
  }
}

run "s3_boot_disk" {
  command = plan

  assert {
    condition     = startswith(output.user_data, "#cloud-config\n")
    error_message = "The user data must be cloud-config."
  }
  assert {
    condition     = strcontains(output.files["/etc/shipshape/release.env"], "RELEASE_SOURCE=\"s3\"\n") && strcontains(output.files["/etc/shipshape/release.env"], "RELEASE_REGION=\"us-east-1\"\n")
    error_message = "S3 releases need the source and the region."
  }
  assert {
    condition     = output.files["/etc/shipshape/release-signing.pem"] == var.release.public_key_pem
    error_message = "The public key must be written as given."
  }
  assert {
    condition     = !contains(keys(output.files), "/etc/shipshape/data-disk.env") && !contains(keys(output.files), "/etc/systemd/system/var-lib-private-shipshape.mount")
    error_message = "No data disk, no mount."
  }
  assert {
    condition     = strcontains(output.files["/etc/systemd/system/shipshape.service"], "Requires=shipshape.socket") && strcontains(output.files["/etc/systemd/system/shipshape.socket"], "ListenStream=80")
    error_message = "The service must take its socket from shipshape.socket (port 80)."
  }
  assert {
    condition     = strcontains(output.user_data, "'/usr/local/sbin/shipshape-release deploy', 'systemctl enable --now shipshape-release.timer'")
    error_message = "The first boot runs the release agent, then enables its timer."
  }
}

run "gcs_data_disk_and_environment" {
  command = plan

  variables {
    release = {
      source         = "gcs"
      bucket         = "rel-bucket"
      endpoint       = "https://storage.googleapis.com"
      public_key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
    }
    data_disk_device = "/dev/disk/by-id/google-shipshape-data"
    environment      = { GREETING = "say \"hi\" $HOME \\ ok" }
  }

  assert {
    condition     = strcontains(output.files["/etc/shipshape/release.env"], "RELEASE_SOURCE=\"gcs\"\n")
    error_message = "GCS releases."
  }
  assert {
    condition     = output.files["/etc/shipshape/data-disk.env"] == "DATA_DISK=/dev/disk/by-id/google-shipshape-data\n" && strcontains(output.files["/etc/systemd/system/var-lib-private-shipshape.mount"], "What=/dev/disk/by-id/google-shipshape-data\nWhere=/var/lib/private/shipshape\n")
    error_message = "The data disk must be mounted on the service's state directory."
  }
  assert {
    condition     = strcontains(output.files["/etc/systemd/system/shipshape.service.d/data-disk.conf"], "RequiresMountsFor=/var/lib/private/shipshape")
    error_message = "The service must never start without its data disk."
  }
  assert {
    condition     = strcontains(output.files["/etc/shipshape/shipshape.env"], "GREETING=\"say \\\"hi\\\" \\$HOME \\\\ ok\"\n")
    error_message = "Values must be quoted and escaped for EnvironmentFile: ${output.files["/etc/shipshape/shipshape.env"]}"
  }
}

run "plain_http_endpoint_is_refused" {
  command = plan

  variables {
    release = {
      source         = "s3"
      bucket         = "rel-bucket"
      endpoint       = "http://rel-bucket.s3.us-east-1.amazonaws.com"
      region         = "us-east-1"
      public_key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
    }
  }

  expect_failures = [var.release]
}

run "s3_without_region_is_refused" {
  command = plan

  variables {
    release = {
      source         = "s3"
      bucket         = "rel-bucket"
      endpoint       = "https://rel-bucket.s3.us-east-1.amazonaws.com"
      public_key_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBlurrA/MEuFq3G9MVqU4YZ/48X47\nHwLyx6If3FMyO2mJbERKcRqXQB5YHnSOO18zBko8yGhVFlisz9dfEJj/rA==\n-----END PUBLIC KEY-----\n"
    }
  }

  expect_failures = [var.release]
}

run "missing_public_key_is_refused" {
  command = plan

  variables {
    release = {
      source         = "gcs"
      bucket         = "rel-bucket"
      endpoint       = "https://storage.googleapis.com"
      public_key_pem = ""
    }
  }

  expect_failures = [var.release]
}
