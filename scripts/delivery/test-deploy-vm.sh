#!/usr/bin/env bash
# Exercises scripts/deploy-vm.sh (AWS) end to end against stand-in `aws`, `terraform` and `curl`
# commands (no cloud here); the bucket is a directory. Proves: the release is uploaded with its
# sha256 and a signature that openssl verifies with the public key (the VMs' check), the pointer
# names {version, sha256}, the SSM command carries no release parameter, the script waits for the VM
# to report the new revision; a VM that never reports it fails the script and the pointer goes back;
# a binary that does not match its sha256 is never uploaded; rollback re-points at previous.json.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo/out/release" "$WORK/bucket"
cp -r scripts "$WORK/repo/"
git -C "$WORK/repo" init -q
NAME="shipshape-linux-x86_64"
printf 'fake shipshape release\n' >"$WORK/repo/out/release/$NAME"
(cd "$WORK/repo/out/release" && sha256sum "$NAME" >"$NAME.sha256")
WANT="$(cut -d' ' -f1 "$WORK/repo/out/release/$NAME.sha256")"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem" 2>/dev/null
openssl ec -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem" 2>/dev/null
# Same output as cosign sign-blob with a KMS key: base64 DER ECDSA P-256 over SHA-256.
cat >"$WORK/bin/sign" <<SH
#!/usr/bin/env bash
openssl dgst -sha256 -sign "$WORK/key.pem" "\$1" | base64 -w0; echo
SH
cat >"$WORK/bin/terraform" <<'SH'
#!/usr/bin/env bash
case "$*" in
  *" init "*) exit 0 ;;
  *"output -no-color -json deploy"*)
    echo '{"release_bucket":"rel","pointer_key":"shipshape/current.json","ssm_document":"shipshape-deploy-release","target_tag_key":"DeployGroup","target_tag_value":"shipshape-aws-vm","output_log_group":"x"}' ;;
  *"output -no-color -raw url"*) printf 'http://192.0.2.10/hello' ;;
  *) echo "unexpected terraform $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/aws" <<'SH'
#!/usr/bin/env bash
echo "aws $*" >>"$STUB_LOG"
case "$1 $2" in
  "s3 cp")
    args=("$@"); src="${args[-2]}"; dst="${args[-1]}"
    if [[ "$src" == s3://* ]]; then f="$STUB_BUCKET/${src#s3://rel-bucket/}"; [ -f "$f" ] || exit 1; cp "$f" "$dst"
    else mkdir -p "$(dirname "$STUB_BUCKET/${dst#s3://rel-bucket/}")"; cp "$src" "$STUB_BUCKET/${dst#s3://rel-bucket/}"; fi ;;
  "ssm send-command") echo "cmd-0001" ;;
  "ssm list-commands") printf 'Success\t1\t1\t0\n' ;;
  "ssm list-command-invocations") printf 'i-0abc\tSuccess\n' ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac
SH
# The VM: reports the revision in STUB_REVISION.
cat >"$WORK/bin/curl" <<'SH'
#!/usr/bin/env bash
case "$*" in
  *"/version"*) printf '{"name":"shipshape","revision":"%s"}' "$STUB_REVISION" ;;
  *"/readyz"*) exit 0 ;;
  *) exit 7 ;;
esac
SH
chmod +x "$WORK/bin/"*

run() { # run REVISION_THE_VM_REPORTS [args]
  local rev="$1"
  shift
  : >"$WORK/log"
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" STUB_LOG="$WORK/log" STUB_BUCKET="$WORK/bucket" STUB_REVISION="$rev" \
    AWS_REGION=us-east-1 RELEASE_BUCKET=rel-bucket RELEASE_PREFIX=shipshape/ TF_STATE_BUCKET=state \
    TF_STATE_KMS_KEY_ARN=arn:aws:kms:us-east-1:111122223333:key/x RELEASE_SIGNING_KEY=awskms:///alias/x \
    RELEASE_SIGN_COMMAND="$WORK/bin/sign" DEPLOY_VM_POLL_SECS=0 DEPLOY_VM_TIMEOUT_SECS=2 \
    CIRCLE_SHA1="$CIRCLE_SHA1" bash scripts/deploy-vm.sh "$@") >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-deploy-vm: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}
pointer() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["version"], d["sha256"])' "$WORK/bucket/shipshape/current.json"; }

# 1. a first release: published, signed, pointed at, triggered, awaited
export CIRCLE_SHA1=aaaaaaaaaaaa0000000000000000000000000000
run aaaaaaaaaaaa || fail "a successful release failed"
REL="$WORK/bucket/shipshape/releases/aaaaaaaaaaaa"
cmp -s "$REL/$NAME" "$WORK/repo/out/release/$NAME" || fail "binary not uploaded to releases/<version>/"
[ "$(cut -d' ' -f1 "$REL/$NAME.sha256")" = "$WANT" ] || fail ".sha256 not uploaded"
base64 -d <"$REL/$NAME.sig" >"$WORK/sig.der"
openssl dgst -sha256 -verify "$WORK/pub.pem" -signature "$WORK/sig.der" "$REL/$NAME" >/dev/null || fail "the signature does not verify"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer is $(pointer)"
grep -q "ssm send-command --region us-east-1 --document-name shipshape-deploy-release --targets Key=tag:DeployGroup,Values=shipshape-aws-vm --max-concurrency 1 --max-errors 0" "$WORK/log" ||
  fail "send-command does not target the deploy group one instance at a time"
if grep -q -- "--parameters" "$WORK/log"; then fail "the SSM command passes release parameters (the VM reads the pointer)"; fi
echo "test-deploy-vm: release published, signed (openssl verifies), pointed at, triggered, awaited"

# 2. a second release the VMs never report: the script fails and the pointer goes back
export CIRCLE_SHA1=bbbbbbbbbbbb0000000000000000000000000000
printf 'second release\n' >"$WORK/repo/out/release/$NAME"
(cd "$WORK/repo/out/release" && sha256sum "$NAME" >"$NAME.sha256")
if run aaaaaaaaaaaa; then fail "a release the VM never reported was called a success"; fi
grep -q "did not become ready" "$WORK/out.txt" || fail "failure not explained"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer not restored after a failed release: $(pointer)"
echo "test-deploy-vm: release never ready: script fails, pointer restored"

# 3. the same release, reported this time; then rollback re-points at the previous one
run bbbbbbbbbbbb || fail "the second release failed"
[ "$(pointer | cut -d' ' -f1)" = bbbbbbbbbbbb ] || fail "pointer not moved"
run aaaaaaaaaaaa rollback || fail "rollback failed"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "rollback did not re-point at the previous release: $(pointer)"
echo "test-deploy-vm: rollback moves the pointer back"

# 4. a binary that does not match its sha256 is never uploaded
export CIRCLE_SHA1=cccccccccccc0000000000000000000000000000
printf 'tampered\n' >>"$WORK/repo/out/release/$NAME"
if run cccccccccccc; then fail "a tampered binary was deployed"; fi
[ ! -e "$WORK/bucket/shipshape/releases/cccccccccccc" ] || fail "a tampered binary was uploaded"
echo "test-deploy-vm: tampered binary: refused before upload"
echo "test-deploy-vm: 4 passed, 0 failed"
