# Planned and applied values of infra/gcp/bootstrap with a mock google provider (no cloud, no credentials).
# The identity probes (who can impersonate what, who can write which object) are in
# tests/infra/test_gcp_bootstrap.py, which evaluates these runs' values.

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }

  mock_data "google_kms_crypto_key_version" {
    defaults = {
      id      = "projects/shipshape-test-1/locations/us-central1/keyRings/shipshape/cryptoKeys/shipshape-release-signing/cryptoKeyVersions/1"
      version = 1
      public_key = [{
        algorithm = "EC_SIGN_P256_SHA256"
        pem       = "-----BEGIN PUBLIC KEY-----\nmock-public-key\n-----END PUBLIC KEY-----\n"
      }]
    }
  }

  mock_resource "google_kms_crypto_key" {
    defaults = {
      id = "projects/shipshape-test-1/locations/us-central1/keyRings/shipshape/cryptoKeys/shipshape-release-signing"
    }
  }

  mock_resource "google_iam_workload_identity_pool_provider" {
    defaults = {
      name = "projects/123456789012/locations/global/workloadIdentityPools/shipshape-circleci/providers/circleci" # pragma: allowlist secret (a resource name, not a secret)
    }
  }
}

variables {
  project_id          = "shipshape-test-1"
  circleci_org_id     = "00000000-0000-4000-8000-000000000000"
  circleci_project_id = "11111111-1111-4111-8111-111111111111"
  vcs_origin          = "github.com/acme/shipshape"
  circleci_context_ids = {
    plan    = "22222222-2222-4222-8222-222222222222"
    apply   = "33333333-3333-4333-8333-333333333333"
    publish = "88888888-8888-4888-8888-888888888888"
    deploy  = "44444444-4444-4444-8444-444444444444"
  }
}

# The values the Python probes evaluate.
run "defaults" {
  command = apply

  # Service accounts: a mock cannot derive emails, and references to its random values would not line
  # up across resources; give each account its real shape.
  override_resource {
    target = google_service_account.vm
    values = {
      email  = "shipshape-vm@shipshape-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:shipshape-vm@shipshape-test-1.iam.gserviceaccount.com"
      name   = "projects/shipshape-test-1/serviceAccounts/shipshape-vm@shipshape-test-1.iam.gserviceaccount.com"
    }
  }

  override_resource {
    target = google_service_account.ci["plan"]
    values = {
      email  = "shipshape-ci-plan@shipshape-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:shipshape-ci-plan@shipshape-test-1.iam.gserviceaccount.com"
      name   = "projects/shipshape-test-1/serviceAccounts/shipshape-ci-plan@shipshape-test-1.iam.gserviceaccount.com"
    }
  }

  override_resource {
    target = google_service_account.ci["apply"]
    values = {
      email  = "shipshape-ci-apply@shipshape-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:shipshape-ci-apply@shipshape-test-1.iam.gserviceaccount.com"
      name   = "projects/shipshape-test-1/serviceAccounts/shipshape-ci-apply@shipshape-test-1.iam.gserviceaccount.com"
    }
  }

  override_resource {
    target = google_service_account.ci["publish"]
    values = {
      email  = "shipshape-ci-publish@shipshape-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:shipshape-ci-publish@shipshape-test-1.iam.gserviceaccount.com"
      name   = "projects/shipshape-test-1/serviceAccounts/shipshape-ci-publish@shipshape-test-1.iam.gserviceaccount.com"
    }
  }

  override_resource {
    target = google_service_account.ci["deploy"]
    values = {
      email  = "shipshape-ci-deploy@shipshape-test-1.iam.gserviceaccount.com"
      member = "serviceAccount:shipshape-ci-deploy@shipshape-test-1.iam.gserviceaccount.com"
      name   = "projects/shipshape-test-1/serviceAccounts/shipshape-ci-deploy@shipshape-test-1.iam.gserviceaccount.com"
    }
  }

  assert {
    condition     = google_storage_bucket.state.versioning[0].enabled && google_storage_bucket.releases.versioning[0].enabled
    error_message = "Both buckets must keep object versions (state history, pointer history)."
  }

  assert {
    condition = alltrue([
      for b in [google_storage_bucket.state, google_storage_bucket.releases] :
      b.uniform_bucket_level_access && b.public_access_prevention == "enforced" && !b.force_destroy
    ])
    error_message = "Buckets: uniform bucket-level access, public access prevention enforced, no force_destroy."
  }

  assert {
    condition     = google_storage_bucket.state.name == "shipshape-test-1-shipshape-tfstate" && google_storage_bucket.releases.name == "shipshape-test-1-shipshape-releases"
    error_message = "Bucket names are <project>-<name>-tfstate / -releases (globally unique through the project ID)."
  }

  assert {
    condition     = google_kms_crypto_key.release_signing.purpose == "ASYMMETRIC_SIGN" && google_kms_crypto_key.release_signing.version_template[0].algorithm == "EC_SIGN_P256_SHA256"
    error_message = "The release signing key is an asymmetric EC_SIGN_P256_SHA256 key (the shared release contract)."
  }

  assert {
    condition     = output.cosign_key_uri == "gcpkms://projects/shipshape-test-1/locations/us-central1/keyRings/shipshape/cryptoKeys/shipshape-release-signing/versions/1"
    error_message = "cosign_key_uri must be cosign's gcpkms:// form pinned to version 1, got ${output.cosign_key_uri}."
  }

  assert {
    condition     = startswith(output.release_signing_public_key_pem, "-----BEGIN PUBLIC KEY-----")
    error_message = "The public key output is the key version's PEM."
  }

  assert {
    condition     = google_iam_workload_identity_pool_provider.circleci.oidc[0].issuer_uri == "https://oidc.circleci.com/org/00000000-0000-4000-8000-000000000000" && google_iam_workload_identity_pool_provider.circleci.oidc[0].allowed_audiences == tolist(["00000000-0000-4000-8000-000000000000"])
    error_message = "Issuer is CircleCI's per-organization issuer; the audience is the organization ID."
  }

  assert {
    condition = alltrue([
      for m in google_service_account_iam_member.ci_federation :
      startswith(m.member, "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/shipshape-circleci/attribute.ci_")
    ])
    error_message = "CI accounts are impersonated only through their pool attribute (principalSet), never by the whole pool."
  }

  assert {
    condition     = alltrue([for m in google_project_iam_member.this : !contains(["roles/owner", "roles/editor", "roles/viewer"], m.role)])
    error_message = "No basic roles."
  }

  assert {
    condition     = output.circleci_context_env["shipshape-gcp-apply"] == { GCP_APPLY_SERVICE_ACCOUNT = google_service_account.ci["apply"].email }
    error_message = "The apply context holds only the apply identity."
  }

  assert {
    condition     = !contains(keys(output.circleci_context_env["shipshape-gcp-deploy"]), "GCP_PUBLISH_SERVICE_ACCOUNT") && !contains(keys(output.circleci_context_env["shipshape-gcp-publish"]), "GCP_DEPLOY_SERVICE_ACCOUNT")
    error_message = "The publish and deploy contexts each name only their own identity."
  }
}

run "names_are_validated" {
  command = plan

  variables {
    name = "Shipshape_Prod"
  }

  expect_failures = [var.name]
}

run "context_ids_must_differ" {
  command = plan

  variables {
    circleci_context_ids = {
      plan    = "22222222-2222-4222-8222-222222222222"
      apply   = "22222222-2222-4222-8222-222222222222"
      publish = "88888888-8888-4888-8888-888888888888"
      deploy  = "44444444-4444-4444-8444-444444444444"
    }
  }

  expect_failures = [var.circleci_context_ids]
}

run "bootstrap_state_is_never_a_pipeline_stack" {
  command = plan

  variables {
    stack_state_prefixes = ["gcp/vm", "gcp/bootstrap"]
  }

  expect_failures = [var.stack_state_prefixes]
}
