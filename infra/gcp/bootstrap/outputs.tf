output "project_id" {
  description = "The project (GCP_PROJECT_ID in the CircleCI contexts, project_id of infra/gcp/vm)."
  value       = var.project_id
}

output "region" {
  description = "Region of the buckets and the signing key (GCP_REGION; use it for infra/gcp/vm too)."
  value       = var.region
}

output "state_bucket" {
  description = "GCS bucket of every GCP stack's state (GCP_STATE_BUCKET): `terraform init -backend-config=bucket=<this>`."
  value       = google_storage_bucket.state.name
}

output "release_bucket" {
  description = "GCS bucket of the VM releases (RELEASE_BUCKET of the deploy context; infra/gcp/vm's release_bucket)."
  value       = google_storage_bucket.releases.name
}

output "release_prefix" {
  description = "Prefix of the releases and the pointer (RELEASE_PREFIX; infra/gcp/vm's release_prefix): <prefix>releases/<version>/shipshape-linux-<arch>[.sha256|.sig], <prefix>current.json."
  value       = var.release_prefix
}

output "release_pointer" {
  description = "Object name of the release pointer ({\"version\": ..., \"sha256\": ...})."
  value       = local.release_pointer
}

output "release_signing_key" {
  description = "Cloud KMS key that signs releases (projects/P/locations/L/keyRings/R/cryptoKeys/K)."
  value       = google_kms_crypto_key.release_signing.id
}

output "release_signing_key_version" {
  description = "The key version releases are signed with (.../cryptoKeyVersions/1)."
  value       = data.google_kms_crypto_key_version.release_signing.id
}

output "cosign_key_uri" {
  description = "cosign --key value for sign-blob (publish) and verify-blob (deploy): RELEASE_SIGNING_KEY of both contexts, pinned to release_signing_key_version."
  value       = "gcpkms://${google_kms_crypto_key.release_signing.id}/versions/${data.google_kms_crypto_key_version.release_signing.version}"
}

output "release_signing_public_key_pem" {
  description = "PEM public key of release_signing_key_version: what the VMs verify each release's .sig with."
  value       = data.google_kms_crypto_key_version.release_signing.public_key[0].pem
}

output "vm_service_account_email" {
  description = "The VMs' service account (infra/gcp/vm's vm_service_account_email): reads releases and the pointer, writes logs and metrics."
  value       = google_service_account.vm.email
}

output "ci_service_accounts" {
  description = "Emails of the plan, apply, publish and deploy service accounts."
  value       = { for k, sa in google_service_account.ci : k => sa.email }
}

output "workload_identity_provider" {
  description = "Full name of the CircleCI provider (GCP_WORKLOAD_IDENTITY_PROVIDER): the audience of the token exchange."
  value       = google_iam_workload_identity_pool_provider.circleci.name
}

output "circleci_context_env" {
  description = "Environment variables of the four CircleCI contexts (docs/pipeline.md, 'Contexts'). Nothing here is a secret."
  value = {
    "shipshape-gcp-plan" = {
      GCP_PROJECT_ID                 = var.project_id
      GCP_REGION                     = var.region
      GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.circleci.name
      GCP_PLAN_SERVICE_ACCOUNT       = google_service_account.ci["plan"].email
      GCP_STATE_BUCKET               = google_storage_bucket.state.name
    }
    "shipshape-gcp-apply" = {
      GCP_APPLY_SERVICE_ACCOUNT = google_service_account.ci["apply"].email
    }
    "shipshape-gcp-publish" = {
      GCP_PROJECT_ID                 = var.project_id
      GCP_REGION                     = var.region
      GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.circleci.name
      GCP_PUBLISH_SERVICE_ACCOUNT    = google_service_account.ci["publish"].email
      # The names scripts/publish-vm.sh reads (DEPLOY_VM_CLOUD=gcp).
      RELEASE_BUCKET      = google_storage_bucket.releases.name
      RELEASE_PREFIX      = var.release_prefix
      RELEASE_SIGNING_KEY = "gcpkms://${google_kms_crypto_key.release_signing.id}/versions/${data.google_kms_crypto_key_version.release_signing.version}"
    }
    "shipshape-gcp-deploy" = {
      GCP_PROJECT_ID                 = var.project_id
      GCP_REGION                     = var.region
      GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.circleci.name
      GCP_DEPLOY_SERVICE_ACCOUNT     = google_service_account.ci["deploy"].email
      GCP_STATE_BUCKET               = google_storage_bucket.state.name
      # The names scripts/deploy-vm.sh reads (DEPLOY_VM_CLOUD=gcp); it verifies with the key, never signs;
      # VM_URL is infra/gcp/vm's output url.
      RELEASE_BUCKET      = google_storage_bucket.releases.name
      RELEASE_PREFIX      = var.release_prefix
      RELEASE_SIGNING_KEY = "gcpkms://${google_kms_crypto_key.release_signing.id}/versions/${data.google_kms_crypto_key_version.release_signing.version}"
    }
  }
}

output "vm_stack_inputs" {
  description = "Values infra/gcp/vm takes from this stack (put them in its terraform.tfvars)."
  value = {
    project_id                  = var.project_id
    region                      = var.region
    vm_service_account_email    = google_service_account.vm.email
    release_bucket              = google_storage_bucket.releases.name
    release_prefix              = var.release_prefix
    release_signing_key         = google_kms_crypto_key.release_signing.id
    release_signing_key_version = data.google_kms_crypto_key_version.release_signing.version
    change_alert_ignored_principals = [
      google_service_account.ci["apply"].email,
      google_service_account.ci["deploy"].email,
    ]
  }
}
