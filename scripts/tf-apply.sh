#!/usr/bin/env bash
# tf-apply: apply exactly the saved plans that tf-plan wrote to out/tf/ (CircleCI workspace), after the
# manual approval. A saved plan is all-or-nothing: Terraform refuses it if the state changed since it
# was made (then re-run the workflow), and applies nothing that the approver did not see.
# Runs with the apply identity (main branch only): AWS's apply role, GCP's apply service account.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

STACKS="${TF_STACKS:-aws/vm aws/eks}"
require_cmd terraform
for stack in $STACKS; do
  case "$(stack_cloud "$stack")" in
    aws) require_env AWS_REGION TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN ;;
    gcp) require_env GCP_STATE_BUCKET ;;
  esac
done
[ -d out/tf ] || die "no out/tf: attach the tf-plan job's workspace (nothing to apply)"
case " $STACKS " in
  *" gcp/"*) step "gcp identity: apply" gcp_auth GCP_APPLY_SERVICE_ACCOUNT ;;
esac

apply_stack() {
  local stack="$1" dir="infra/$1" out
  out="out/tf/$(stack_slug "$stack")"
  [ -f "$out/plan.tfplan" ] && [ -f "$out/status" ] || die "no saved plan for $stack in $out"
  if [ "$(cat "$out/status")" = no-changes ]; then
    echo "$stack: the plan has no changes; nothing to apply"
    return 0
  fi
  # The provider versions must be the ones the plan was made with.
  [ -f "$out/.terraform.lock.hcl" ] && cp "$out/.terraform.lock.hcl" "$dir/.terraform.lock.hcl"
  tf_init "$dir"
  terraform -chdir="$dir" apply -input=false -no-color -lock-timeout=5m "$PWD/$out/plan.tfplan"
}

for stack in $STACKS; do
  step "apply saved plan: $stack" apply_stack "$stack"
done
finish
