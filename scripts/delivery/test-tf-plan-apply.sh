#!/usr/bin/env bash
# Exercises scripts/tf-plan.sh and scripts/tf-apply.sh with the real terraform on a scratch stack of
# built-in resources (terraform_data: no provider download, no cloud), with the S3 backend arguments
# dropped by a thin wrapper and a stand-in `aws`. Proves: a change plans to a saved plan + summary and
# status "changes"; tf-apply applies exactly that file; a second plan reports "no-changes" and tf-apply
# then applies nothing; a saved plan made stale by a newer apply is refused by tf-apply.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

REAL_TF="$(command -v terraform)" || { echo "test-tf-plan-apply: no terraform on PATH" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo/infra/test/stack"
cp -r scripts "$WORK/repo/"
git -C "$WORK/repo" init -q
STACK="$WORK/repo/infra/test/stack"
write_stack() {
  cat >"$STACK/main.tf" <<TF
variable "greeting" {
  type    = string
  default = "$1"
}

resource "terraform_data" "greeting" {
  input = var.greeting
}
TF
}
write_stack "hello"

# Local state instead of S3: init without the -backend-config arguments (this stack has no backend).
cat >"$WORK/bin/terraform" <<SH
#!/usr/bin/env bash
args=()
for a in "\$@"; do
  case "\$a" in -backend-config=*) ;; *) args+=("\$a") ;; esac
done
exec env TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 "$REAL_TF" "\${args[@]}"
SH
printf '#!/usr/bin/env bash\nexit 1\n' >"$WORK/bin/aws" # no tfvars in S3, no release pointer
chmod +x "$WORK/bin/"*

run() {
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" AWS_REGION=us-east-1 TF_STATE_BUCKET=state \
    TF_STATE_KMS_KEY_ARN=arn:aws:kms:us-east-1:111122223333:key/x TF_STACKS=test/stack bash "scripts/$1") \
    >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-tf-plan-apply: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}
OUT="$WORK/repo/out"

run tf-plan.sh || fail "tf-plan failed on a valid change"
[ "$(cat "$OUT/tf/test-stack/status")" = changes ] || fail "status is not 'changes'"
[ -s "$OUT/tf/test-stack/plan.tfplan" ] || fail "no saved plan"
grep -q '| test/stack | changes | 1 | 0 | 0 | 0 |' "$OUT/tf-summary/summary.md" || fail "summary does not count 1 create"
grep -q 'terraform_data.greeting will be created' "$OUT/tf-summary/test-stack.txt" || fail "no readable plan text"
echo "test-tf-plan-apply: plan: saved plan, status 'changes', summary 1 to create"

run tf-apply.sh || fail "tf-apply failed on a fresh saved plan"
grep -q 'Apply complete! Resources: 1 added' "$WORK/out.txt" || fail "tf-apply did not apply the plan"
echo "test-tf-plan-apply: apply: exactly the saved plan (1 added)"

run tf-plan.sh || fail "tf-plan failed with nothing to change"
[ "$(cat "$OUT/tf/test-stack/status")" = no-changes ] || fail "an applied stack still plans changes"
run tf-apply.sh || fail "tf-apply failed on a no-change plan"
grep -q 'nothing to apply' "$WORK/out.txt" || fail "tf-apply did not skip the no-change plan"
echo "test-tf-plan-apply: no changes: planned as such, nothing applied"

# A saved plan goes stale when the state moves on before it is applied.
write_stack "hello again"
run tf-plan.sh || fail "tf-plan failed"
cp -r "$OUT/tf" "$WORK/stale-tf"
run tf-apply.sh || fail "tf-apply of a fresh plan failed"
rm -rf "$OUT/tf" && cp -r "$WORK/stale-tf" "$OUT/tf"
if run tf-apply.sh; then fail "a stale saved plan was applied"; fi
grep -qi 'stale' "$WORK/out.txt" || fail "tf-apply failed, but not because the plan was stale"
echo "test-tf-plan-apply: stale saved plan: refused"
echo "test-tf-plan-apply: 4 passed, 0 failed"
