# Five service accounts, each with only what its jobs do. Every grant is here, in this stack that only an
# administrator applies: none of these identities can grant a role, create a key, impersonate another
# account or change a bucket's or key's IAM, so none can raise its own permissions (README, "Identities").
#
#   ci-plan    any branch, plan context      read the stacks' resources and state; take/release the lock
#   ci-apply   deploy branch, apply context  manage infra/gcp/vm's resources; write the stacks' state;
#                                            attach the VM service account (and no other) to instances
#   ci-publish deploy branch or release tag, create releases (write-once) and sign them; never the pointer
#              publish context
#   ci-deploy  deploy branch or release tag, read and verify releases, move the pointer; never sign
#              deploy context
#   vm         the VMs' runtime identity     read the releases and the pointer; write logs and metrics
#
# Publish and deploy are separate, as on AWS: the signer cannot point the VMs at what it signed, and the
# pointer mover cannot sign, so neither alone can make the VMs run a binary it chose.

locals {
  ci_identities = {
    plan    = "CircleCI: terraform plan of the GCP stacks, any branch (read-only)"
    apply   = "CircleCI: terraform apply of approved saved plans, ${var.deploy_branch} only"
    publish = "CircleCI: upload and sign VM releases, ${var.deploy_branch} or release tags"
    deploy  = "CircleCI: point the VMs at signed releases, ${var.deploy_branch} or release tags"
  }

  # Conditions on object names (https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).
  stack_objects = join(" || ", [for p in var.stack_state_prefixes : "resource.name.startsWith('${local.state_objects}/${p}/')"])

  project_roles = {
    plan = [
      "roles/compute.viewer",
      "roles/monitoring.viewer",
      "roles/serviceusage.serviceUsageViewer",
    ]
    apply = [
      "roles/compute.instanceAdmin.v1",
      "roles/compute.networkAdmin",
      "roles/compute.securityAdmin",
      "roles/monitoring.alertPolicyEditor",
      "roles/monitoring.uptimeCheckConfigEditor",
      "roles/serviceusage.serviceUsageAdmin",
    ]
    deploy = [
      "roles/compute.viewer",
    ]
    publish = []
    vm = [
      "roles/logging.logWriter",
      "roles/monitoring.metricWriter",
    ]
  }
  project_grants = merge([
    for who, roles in local.project_roles : { for role in roles : "${who} ${role}" => { who = who, role = role } }
  ]...)

  # Grants on the two buckets. condition = null: the whole bucket.
  bucket_grants = {
    "state plan read" = {
      bucket = "state", who = "plan", role = "roles/storage.objectViewer", condition = null
    }
    "state plan lock" = {
      bucket = "state", who = "plan", role = "roles/storage.objectUser", condition = {
        title      = "state-lock-objects"
        expression = "(${local.stack_objects}) && resource.name.endsWith('.tflock')"
      }
    }
    # A stack's very first plan writes its empty state. Create without delete cannot replace an object
    # that exists (https://cloud.google.com/storage/docs/access-control/iam-permissions), so plan can never
    # overwrite a real state.
    "state plan initial" = {
      bucket = "state", who = "plan", role = "roles/storage.objectCreator", condition = {
        title      = "new-state-objects"
        expression = "(${local.stack_objects}) && resource.name.endsWith('.tfstate')"
      }
    }
    "state apply read" = {
      bucket = "state", who = "apply", role = "roles/storage.objectViewer", condition = null
    }
    "state apply write" = {
      bucket = "state", who = "apply", role = "roles/storage.objectUser", condition = {
        title      = "stack-state-objects"
        expression = local.stack_objects
      }
    }
    "state deploy read" = {
      bucket = "state", who = "deploy", role = "roles/storage.objectViewer", condition = null
    }
    "releases deploy read" = {
      bucket = "releases", who = "deploy", role = "roles/storage.objectViewer", condition = null
    }
    # Create without delete: a published binary, checksum or signature can never be replaced or removed
    # (scripts/publish-vm.sh keeps an existing .sig that verifies). Reading them back lets a re-run
    # compare.
    "releases publish create" = {
      bucket = "releases", who = "publish", role = "roles/storage.objectCreator", condition = {
        title      = "release-objects"
        expression = "resource.name.startsWith('${local.release_objects}/${local.releases}')"
      }
    }
    "releases publish read" = {
      bucket = "releases", who = "publish", role = "roles/storage.objectViewer", condition = {
        title      = "release-objects-read"
        expression = "resource.name.startsWith('${local.release_objects}/${local.releases}')"
      }
    }
    "releases deploy pointer" = {
      bucket = "releases", who = "deploy", role = "roles/storage.objectUser", condition = {
        title      = "release-pointer"
        expression = "resource.name == '${local.release_objects}/${local.release_pointer}' || resource.name == '${local.release_objects}/${local.release_previous}'"
      }
    }
    "releases vm read" = {
      bucket = "releases", who = "vm", role = "roles/storage.objectViewer", condition = {
        title      = "releases-and-pointer"
        expression = "resource.name.startsWith('${local.release_objects}/${local.releases}') || resource.name == '${local.release_objects}/${local.release_pointer}'"
      }
    }
  }

  key_roles = {
    plan    = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer"]
    apply   = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer"]
    publish = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer", "roles/cloudkms.signer"]
    deploy  = ["roles/cloudkms.viewer", "roles/cloudkms.publicKeyViewer"]
  }
  key_grants = merge([
    for who, roles in local.key_roles : { for role in roles : "${who} ${role}" => { who = who, role = role } }
  ]...)

  members = merge(
    { for who, sa in google_service_account.ci : who => sa.member },
    { vm = google_service_account.vm.member },
  )
  buckets = {
    state    = google_storage_bucket.state.name
    releases = google_storage_bucket.releases.name
  }
}

resource "google_service_account" "ci" {
  for_each = local.ci_identities

  project      = var.project_id
  account_id   = "${var.name}-ci-${each.key}"
  display_name = "${var.name} ci-${each.key}"
  description  = "${each.value} (infra/gcp/bootstrap)"

  depends_on = [google_project_service.required]
}

# The VMs' identity lives here, not in infra/gcp/vm: creating it there would need the apply identity to
# create service accounts and grant project roles, i.e. to be able to raise its own permissions.
resource "google_service_account" "vm" {
  project      = var.project_id
  account_id   = "${var.name}-vm"
  display_name = "${var.name} vm"
  description  = "Runtime identity of the shipshape VMs: read releases, write logs and metrics (infra/gcp/bootstrap)"

  depends_on = [google_project_service.required]
}

# Federated CircleCI tokens may impersonate a CI account only through its own gate attribute (wif.tf).
resource "google_service_account_iam_member" "ci_federation" {
  for_each = google_service_account.ci

  service_account_id = each.value.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.pool_principal_prefix}/attribute.ci_${each.key}/allowed"
}

# The apply identity attaches the VM identity to instances (iam.serviceAccounts.actAs on this account only).
resource "google_service_account_iam_member" "apply_uses_vm" {
  service_account_id = google_service_account.vm.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.ci["apply"].member
}

resource "google_project_iam_member" "this" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = local.members[each.value.who]
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = local.bucket_grants

  bucket = local.buckets[each.value.bucket]
  role   = each.value.role
  member = local.members[each.value.who]

  dynamic "condition" {
    for_each = each.value.condition == null ? [] : [each.value.condition]
    content {
      title      = condition.value.title
      expression = condition.value.expression
    }
  }
}

resource "google_kms_crypto_key_iam_member" "release_signing" {
  for_each = local.key_grants

  crypto_key_id = google_kms_crypto_key.release_signing.id
  role          = each.value.role
  member        = local.members[each.value.who]
}
