#!/usr/bin/env bash
# tf-plan: `terraform plan` of every stack to a saved plan file, plus a readable summary.
#   out/tf/<stack>/plan.tfplan, .terraform.lock.hcl, status   (workspace: tf-apply applies exactly these)
#   out/tf-summary/<stack>.txt (full `terraform show`) and summary.md (counts)   (artifacts)
# Variables of each stack: next to its state, out of Git: s3://$TF_STATE_BUCKET/<stack>/terraform.tfvars
# (AWS; encrypted, versioned), gs://$GCP_STATE_BUCKET/<stack>/terraform.tfvars (GCP). Releases are not
# Terraform's: the VMs read the release pointer themselves.
# Runs with the read-only plan identity (docs/pipeline.md): AWS's plan role (set up by the CircleCI job),
# GCP's plan service account (workload identity federation, scripts/delivery/lib.sh gcp_auth).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

STACKS="${TF_STACKS:-aws/vm aws/eks}"
require_cmd terraform
ensure_python3
for stack in $STACKS; do
  case "$(stack_cloud "$stack")" in
    aws) require_env AWS_REGION TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN && require_cmd aws ;;
    gcp) require_env GCP_STATE_BUCKET && require_cmd gcloud ;;
  esac
done
case " $STACKS " in
  *" gcp/"*) step "gcp identity: plan" gcp_auth GCP_PLAN_SERVICE_ACCOUNT ;;
esac
rm -rf out/tf out/tf-summary
mkdir -p out/tf out/tf-summary
echo "| stack | result | create | update | replace | delete |" >out/tf-summary/summary.md
echo "|---|---|---|---|---|---|" >>out/tf-summary/summary.md

plan_stack() {
  local stack="$1" dir="infra/$1" slug out args=() rc
  slug="$(stack_slug "$stack")"
  out="out/tf/$slug"
  [ -d "$dir" ] || die "no stack directory $dir"
  mkdir -p "$out"
  tf_init "$dir"

  local vars_url
  if [ "$(stack_cloud "$stack")" = gcp ]; then
    vars_url="gs://${GCP_STATE_BUCKET}/${stack}/terraform.tfvars"
    fetch() { gcloud storage cp --quiet "$vars_url" "$out/stack.tfvars" 2>/dev/null; }
  else
    vars_url="s3://${TF_STATE_BUCKET}/${stack}/terraform.tfvars"
    fetch() { aws s3 cp --quiet "$vars_url" "$out/stack.tfvars" 2>/dev/null; }
  fi
  if fetch; then
    args+=(-var-file="$PWD/$out/stack.tfvars")
    echo "variables: $vars_url"
  else
    echo "variables: no $vars_url; TF_VAR_* from the context only"
  fi
  # The plan file holds the variables' values: it stays in the workspace; the artifacts hold text only.
  set +e
  terraform -chdir="$dir" plan -input=false -no-color -lock-timeout=5m -detailed-exitcode \
    -out="$PWD/$out/plan.tfplan" "${args[@]}"
  rc=$?
  set -e
  case $rc in
    0) echo no-changes >"$out/status" ;;
    2) echo changes >"$out/status" ;;
    *) return 1 ;;
  esac
  cp "$dir/.terraform.lock.hcl" "$out/" 2>/dev/null || true
  terraform -chdir="$dir" show -no-color "$PWD/$out/plan.tfplan" >"out/tf-summary/$slug.txt"
  terraform -chdir="$dir" show -json "$PWD/$out/plan.tfplan" >"$out/plan.json"
  python3 - "$out/plan.json" "$stack" "$(cat "$out/status")" <<'PY' | tee -a out/tf-summary/summary.md
import json, sys
plan = json.load(open(sys.argv[1]))
sys.argv.pop(1)
count = {"create": 0, "update": 0, "replace": 0, "delete": 0}
for rc in plan.get("resource_changes", []):
    actions = rc["change"]["actions"]
    if actions == ["create"]: count["create"] += 1
    elif actions == ["update"]: count["update"] += 1
    elif actions == ["delete"]: count["delete"] += 1
    elif "create" in actions and "delete" in actions: count["replace"] += 1
print(f"| {sys.argv[1]} | {sys.argv[2]} | {count['create']} | {count['update']} | {count['replace']} | {count['delete']} |")
PY
}

for stack in $STACKS; do
  step "plan $stack" plan_stack "$stack"
done
echo
cat out/tf-summary/summary.md
finish
