#!/usr/bin/env bash
# Exercises scripts/deploy-vm.sh end to end against stand-in `aws`, `terraform` and `shipshape`
# commands (no cloud here): the upload carries the binary's real sha256, the SSM command targets the
# stack's document and deploy group with exactly that URL + sha256, the release pointer is written
# only after success, and a failed rollout or a tampered binary fails the script.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo/out/release"

# A fake release in a scratch copy of the scripts (deploy-vm reads out/release relative to the repo).
cp -r scripts "$WORK/repo/"
git -C "$WORK/repo" init -q
printf 'fake shipshape release\n' >"$WORK/repo/out/release/shipshape"
chmod +x "$WORK/repo/out/release/shipshape"
(cd "$WORK/repo/out/release" && sha256sum shipshape >shipshape.sha256)
WANT="$(cut -d' ' -f1 "$WORK/repo/out/release/shipshape.sha256")"

cat >"$WORK/bin/terraform" <<'SH'
#!/usr/bin/env bash
echo "terraform $*" >>"$STUB_LOG"
case "$*" in
  *" init "*) exit 0 ;;
  *"output -no-color -json deploy"*)
    echo '{"mode":"ssm-association","ssm_document":"shipshape-deploy-release","target_tag_key":"DeployGroup","target_tag_value":"shipshape-aws-vm","output_log_group":"x","asg_name":null}' ;;
  *"output -no-color -raw url"*) printf 'http://192.0.2.10/hello' ;;
  *) echo "unexpected terraform $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/aws" <<'SH'
#!/usr/bin/env bash
echo "aws $*" >>"$STUB_LOG"
case "$1 $2" in
  "s3api head-object") exit 254 ;;                      # not uploaded yet
  "s3api put-object") exit 0 ;;
  "s3 cp")
    case "$*" in
      *"s3://"*"current.json "*) exit 1 ;;              # no previous release
      *) cp "$4" "$STUB_DIR/uploaded-$(basename "$5")" ;;
    esac ;;
  "ssm send-command") echo "cmd-0001" ;;
  "ssm list-commands")
    n=$(($(cat "$STUB_DIR/polls" 2>/dev/null || echo 0) + 1)); echo "$n" >"$STUB_DIR/polls"
    if [ "$n" -lt 2 ]; then printf 'InProgress\t1\t0\t0\n'; else printf '%s\n' "$STUB_FINAL"; fi ;;
  "ssm list-command-invocations") printf 'i-0abc\tSuccess\n' ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/shipshape-smoke" <<'SH'
#!/usr/bin/env bash
echo "smoke $*" >>"$STUB_LOG"
SH
chmod +x "$WORK/bin/"*

run() {
  rm -f "$WORK/polls" "$WORK/log" "$WORK"/uploaded-*
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" STUB_LOG="$WORK/log" STUB_DIR="$WORK" STUB_FINAL="$1" \
    AWS_REGION=us-east-1 RELEASE_BUCKET=rel-bucket RELEASE_PREFIX=shipshape/ TF_STATE_BUCKET=state \
    TF_STATE_KMS_KEY_ARN=arn:aws:kms:us-east-1:111122223333:key/x SHIPSHAPE_BIN="$WORK/bin/shipshape-smoke" \
    SMOKE_ATTEMPTS=1 DEPLOY_VM_POLL_SECS=0 CIRCLE_SHA1=0123456789abcdef0123 bash scripts/deploy-vm.sh) >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-deploy-vm: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}

# 1. a successful rollout
run $'Success\t1\t1\t0' || fail "a successful rollout failed"
grep -q "s3api put-object --bucket rel-bucket --key shipshape/0123456789ab/shipshape --body out/release/shipshape" "$WORK/log" ||
  fail "binary not uploaded to shipshape/<sha12>/shipshape"
grep -q -- "--metadata sha256=$WANT" "$WORK/log" || fail "upload lacks the sha256 metadata"
grep -q "ssm send-command --region us-east-1 --document-name shipshape-deploy-release --targets Key=tag:DeployGroup,Values=shipshape-aws-vm" "$WORK/log" ||
  fail "send-command does not target the stack's document and deploy group"
grep -q "\"binaryUrl\": \[\"https://rel-bucket.s3.us-east-1.amazonaws.com/shipshape/0123456789ab/shipshape\"\]" "$WORK/log" ||
  fail "send-command does not pass the release URL"
grep -q "\"binarySha256\": \[\"$WANT\"\]" "$WORK/log" || fail "send-command does not pass the binary's sha256"
grep -q -- "--max-concurrency 1 --max-errors 0" "$WORK/log" || fail "rollout is not one instance at a time with no errors allowed"
grep -q "\"sha256\": \"$WANT\"" "$WORK/uploaded-current.json" || fail "current.json does not record the release"
grep -q "smoke --base-url http://192.0.2.10" "$WORK/log" || fail "no smoke test against the VM URL"
echo "test-deploy-vm: successful rollout: upload, SSM command, release pointer and smoke as specified"

# 2. a failed rollout must fail and must not move the release pointer
if run $'Failed\t1\t1\t1'; then fail "a failed SSM rollout was reported as success"; fi
grep -q "rollout failed: Failed" "$WORK/out.txt" || fail "failure not explained"
[ ! -e "$WORK/uploaded-current.json" ] || fail "current.json was written although the rollout failed"
echo "test-deploy-vm: failed rollout: script fails, release pointer untouched"

# 3. a binary that does not match its sha256 is never uploaded
printf 'tampered\n' >>"$WORK/repo/out/release/shipshape"
if run $'Success\t1\t1\t0'; then fail "a tampered binary was deployed"; fi
if grep -qs "put-object" "$WORK/log"; then fail "a tampered binary was uploaded"; fi
echo "test-deploy-vm: tampered binary: refused before upload"
echo "test-deploy-vm: 3 passed, 0 failed"
