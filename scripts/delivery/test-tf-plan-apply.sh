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

# GCP: the same plan -> apply of a gcp/* stack, with the identity from workload identity federation. The
# stand-in terraform records the credential configuration it was given; the stand-in gcloud serves the
# stack's tfvars from the state bucket.
GSTACK="$WORK/repo/infra/gcp/stack"
mkdir -p "$GSTACK"
cp "$STACK/main.tf" "$GSTACK/main.tf"
mv "$WORK/bin/terraform" "$WORK/bin/terraform-local"
cat >"$WORK/bin/terraform" <<SH
#!/usr/bin/env bash
case " \$* " in
  *" plan "* | *" apply "*)
    { echo "CREDENTIALS \${GOOGLE_APPLICATION_CREDENTIALS:-none}"; cat "\${GOOGLE_APPLICATION_CREDENTIALS:-/dev/null}";
      echo; echo "TOKEN \$(cat "\$(dirname "\${GOOGLE_APPLICATION_CREDENTIALS:-/x}")/oidc-token" 2>/dev/null)";
      echo "MODE \$(stat -c %a "\${GOOGLE_APPLICATION_CREDENTIALS:-/dev/null}")"; } >>"$WORK/gcp.log" ;;
esac
exec "$WORK/bin/terraform-local" "\$@"
SH
cat >"$WORK/bin/gcloud" <<SH
#!/usr/bin/env bash
echo "gcloud \$*" >>"$WORK/gcp.log"
[ "\$1 \$2" = "storage cp" ] && [ "\$4" = "gs://gstate/gcp/stack/terraform.tfvars" ] || exit 1
echo 'greeting = "from the state bucket"' >"\$5"
SH
chmod +x "$WORK/bin/"*

run_gcp() {
  rm -f "$WORK/gcp.log"
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" TF_STACKS=gcp/stack GCP_STATE_BUCKET=gstate CIRCLE_OIDC_TOKEN=token-of-this-job \
    GCP_WORKLOAD_IDENTITY_PROVIDER=projects/123/locations/global/workloadIdentityPools/p/providers/circleci \
    GCP_PLAN_SERVICE_ACCOUNT=plan@p.iam.gserviceaccount.com GCP_APPLY_SERVICE_ACCOUNT=apply@p.iam.gserviceaccount.com \
    bash "scripts/$1") >"$WORK/out.txt" 2>&1
}
run_gcp tf-plan.sh || fail "tf-plan of a gcp stack failed"
grep -q '| gcp/stack | changes | 1 | 0 | 0 | 0 |' "$OUT/tf-summary/summary.md" || fail "gcp plan summary does not count 1 create"
grep -q 'gcloud storage cp --quiet gs://gstate/gcp/stack/terraform.tfvars' "$WORK/gcp.log" || fail "tfvars not read from the state bucket"
grep -q '"from the state bucket"' "$OUT/tf-summary/gcp-stack.txt" || fail "the state bucket's tfvars were not used"
grep -q '"audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/circleci"' "$WORK/gcp.log" ||
  fail "credential configuration does not name the workload identity provider"
grep -q 'serviceAccounts/plan@p.iam.gserviceaccount.com:generateAccessToken' "$WORK/gcp.log" || fail "plan does not impersonate the plan account"
grep -q '^TOKEN token-of-this-job$' "$WORK/gcp.log" || fail "the job's OIDC token is not the subject token"
grep -q '^MODE 600$' "$WORK/gcp.log" || fail "credential configuration readable by others"
if grep -q '"private_key' "$WORK/gcp.log"; then fail "a key file appeared"; fi
echo "test-tf-plan-apply: gcp plan: federated as the plan account, tfvars from the state bucket"
run_gcp tf-apply.sh || fail "tf-apply of a gcp stack failed"
grep -q 'Apply complete! Resources: 1 added' "$WORK/out.txt" || fail "tf-apply did not apply the gcp plan"
grep -q 'serviceAccounts/apply@p.iam.gserviceaccount.com:generateAccessToken' "$WORK/gcp.log" || fail "apply does not impersonate the apply account"
if grep -q 'serviceAccounts/plan@' "$WORK/gcp.log"; then fail "apply used the plan account"; fi
[ -z "$(find /tmp -maxdepth 2 -name oidc-token -newer "$GSTACK/main.tf" 2>/dev/null)" ] || fail "the token file outlived the script"
echo "test-tf-plan-apply: gcp apply: federated as the apply account, token removed afterwards"

(cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" TF_STACKS=gcp/stack GCP_STATE_BUCKET=gstate CIRCLECI=true \
  bash scripts/tf-plan.sh) >"$WORK/out.txt" 2>&1 && fail "a CircleCI job without a token planned anyway"
grep -q "no CIRCLE_OIDC_TOKEN" "$WORK/out.txt" || fail "a job without a context is not told why it has no identity"
echo "test-tf-plan-apply: gcp without a context: refused, with the reason"
echo "test-tf-plan-apply: 7 passed, 0 failed"
