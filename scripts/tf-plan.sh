#!/usr/bin/env bash
# tf-plan: `terraform plan` of every stack to a saved plan file, plus a readable summary.
#   out/tf/<stack>/plan.tfplan, .terraform.lock.hcl, status   (workspace: tf-apply applies exactly these)
#   out/tf-summary/<stack>.txt (full `terraform show`) and summary.md (counts)   (artifacts)
# Variables of each stack: s3://$TF_STATE_BUCKET/<stack>/terraform.tfvars (next to its state: encrypted,
# versioned, out of Git). Releases are not Terraform's: the VMs read the release pointer themselves.
# Runs with the read-only plan role (docs/pipeline.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

require_env AWS_REGION TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN
require_cmd terraform aws
ensure_python3
STACKS="${TF_STACKS:-aws/vm aws/eks}"
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

  if aws s3 cp --quiet "s3://${TF_STATE_BUCKET}/${stack}/terraform.tfvars" "$out/stack.tfvars" 2>/dev/null; then
    args+=(-var-file="$PWD/$out/stack.tfvars")
    echo "variables: s3://${TF_STATE_BUCKET}/${stack}/terraform.tfvars"
  else
    echo "variables: no s3://${TF_STATE_BUCKET}/${stack}/terraform.tfvars; TF_VAR_* from the context only"
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
