#!/usr/bin/env bash
# Exercises scripts/publish-vm.sh (publish identity) and scripts/deploy-vm.sh (deploy identity) for AWS end
# to end against stand-in `aws`, `terraform` and `curl` commands (no cloud here); the bucket is a directory
# and the stand-in refuses a put with If-None-Match on an existing key, as S3 does. Proves:
#   publish uploads binary, .sha256 and a .sig that openssl verifies with the public key (the VMs'
#   check), each with If-None-Match, and never touches the pointer; a re-run changes nothing; a
#   different binary under the same version is refused; a tampered local binary is never uploaded;
#   deploy checks checksum and signature before pointing, never writes under releases/, names
#   {version, sha256}, runs the SSM document without release parameters and waits for the VM to report
#   the revision; an unpublished or badly signed release is refused with the pointer untouched; a VM
#   that never reports it fails the job and the pointer goes back; rollback re-points at previous.json;
#   a re-run of the same release keeps previous.json.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo/out/release" "$WORK/bucket"
cp -r scripts "$WORK/repo/"
git -C "$WORK/repo" init -q
NAME="shipshape-linux-x86_64"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem" 2>/dev/null
openssl ec -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem" 2>/dev/null
# Same output as cosign sign-blob with a KMS key: base64 DER ECDSA P-256 over SHA-256; verified the way the
# VMs verify it.
cat >"$WORK/bin/sign" <<SH
#!/usr/bin/env bash
openssl dgst -sha256 -sign "$WORK/key.pem" "\$1" | base64 -w0; echo
SH
cat >"$WORK/bin/verify" <<SH
#!/usr/bin/env bash
base64 -d <"\$2" >"\$2.der" && openssl dgst -sha256 -verify "$WORK/pub.pem" -signature "\$2.der" "\$1" >/dev/null
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
echo "$STUB_WHO: aws $*" >>"$STUB_LOG"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
case "$1 $2" in
  "s3api get-object")
    [ "$(arg --bucket "$@")" = rel-bucket ] || exit 9
    f="$STUB_BUCKET/$(arg --key "$@")"; [ -f "$f" ] || { echo "NoSuchKey" >&2; exit 254; }
    cp "$f" "${!#}" ;;
  "s3api put-object")
    [ "$(arg --bucket "$@")" = rel-bucket ] || exit 9
    f="$STUB_BUCKET/$(arg --key "$@")"
    if [ "$(arg --if-none-match "$@")" = "*" ] && [ -e "$f" ]; then echo "PreconditionFailed" >&2; exit 254; fi
    mkdir -p "$(dirname "$f")"; cp "$(arg --body "$@")" "$f" ;;
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

run() { # run publish|deploy REVISION_THE_VM_REPORTS [args]
  local script="$1" rev="$2"
  shift 2
  : >"$WORK/log"
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" STUB_LOG="$WORK/log" STUB_WHO="$script" STUB_BUCKET="$WORK/bucket" \
    STUB_REVISION="$rev" AWS_REGION=us-east-1 RELEASE_BUCKET=rel-bucket RELEASE_PREFIX=shipshape/ TF_STATE_BUCKET=state \
    TF_STATE_KMS_KEY_ARN=arn:aws:kms:us-east-1:111122223333:key/x COSIGN_KEY=awskms:///alias/x \
    RELEASE_SIGN_COMMAND="$WORK/bin/sign" RELEASE_VERIFY_COMMAND="$WORK/bin/verify" DEPLOY_VM_POLL_SECS=0 \
    DEPLOY_VM_TIMEOUT_SECS=2 CIRCLE_SHA1="$CIRCLE_SHA1" bash "scripts/$script-vm.sh" "$@") >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-deploy-vm: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}
pointer() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["version"], d["sha256"])' "$WORK/bucket/shipshape/current.json"; }
build() { # build CONTENT: a new release binary in out/release
  printf '%s\n' "$1" >"$WORK/repo/out/release/$NAME"
  (cd "$WORK/repo/out/release" && sha256sum "$NAME" >"$NAME.sha256")
  cut -d' ' -f1 "$WORK/repo/out/release/$NAME.sha256"
}
writes() { grep -E "aws s3api put-object" "$WORK/log" | sed -n 's/.* --key \([^ ]*\).*/\1/p'; }
passed=0
ok() { echo "test-deploy-vm: $*"; passed=$((passed + 1)); }

# 1. publish: uploaded write-once and signed, the pointer untouched
export CIRCLE_SHA1=aaaaaaaaaaaa0000000000000000000000000000
WANT="$(build 'fake shipshape release')"
run publish - || fail "publishing a release failed"
REL="$WORK/bucket/shipshape/releases/aaaaaaaaaaaa"
cmp -s "$REL/$NAME" "$WORK/repo/out/release/$NAME" || fail "binary not uploaded to releases/<version>/"
[ "$(cut -d' ' -f1 "$REL/$NAME.sha256")" = "$WANT" ] || fail ".sha256 not uploaded"
base64 -d <"$REL/$NAME.sig" >"$WORK/sig.der"
openssl dgst -sha256 -verify "$WORK/pub.pem" -signature "$WORK/sig.der" "$REL/$NAME" >/dev/null || fail "the signature does not verify"
[ "$(grep -c 'put-object' "$WORK/log")" = 3 ] && [ "$(grep 'put-object' "$WORK/log" | grep -vc -- "--if-none-match \*")" = 0 ] ||
  fail "publish must write exactly three objects, each with If-None-Match: $(cat "$WORK/log")"
! writes | grep -qv '^shipshape/releases/' || fail "publish wrote outside releases/: $(writes)"
[ ! -e "$WORK/bucket/shipshape/current.json" ] || fail "publish moved the release pointer"
ok "publish: binary, .sha256 and a .sig openssl verifies, each If-None-Match; pointer untouched"

# 2. publish again (a re-run): nothing rewritten
cp "$REL/$NAME.sig" "$WORK/first.sig"
run publish - || fail "a re-run of publish failed"
cmp -s "$REL/$NAME.sig" "$WORK/first.sig" || fail "a re-run replaced the signature"
grep -q "already published" "$WORK/out.txt" || fail "a re-run did not recognise the published release"
ok "publish re-run: the same objects found, nothing replaced"

# 3. deploy: checked, pointed at, triggered, awaited; never writes a release
run deploy aaaaaaaaaaaa || fail "a successful deploy failed"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer is $(pointer)"
! writes | grep -q '^shipshape/releases/' || fail "deploy wrote a release object"
grep -q "ssm send-command --region us-east-1 --document-name shipshape-deploy-release --targets Key=tag:DeployGroup,Values=shipshape-aws-vm --max-concurrency 1 --max-errors 0" "$WORK/log" ||
  fail "send-command does not target the deploy group one instance at a time"
if grep -q -- "--parameters" "$WORK/log"; then fail "the SSM command passes release parameters (the VM reads the pointer)"; fi
grep -q "checksum and signature verified" "$WORK/out.txt" || fail "deploy did not verify the release"
ok "deploy: release verified, pointer {version, sha256}, SSM on the deploy group, revision awaited"

# 4. a release that was never published, or whose signature does not verify: refused, pointer untouched
export CIRCLE_SHA1=bbbbbbbbbbbb0000000000000000000000000000
if run deploy bbbbbbbbbbbb; then fail "an unpublished release was deployed"; fi
grep -q "is not published" "$WORK/out.txt" || fail "unpublished release: failure not explained"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer moved to an unpublished release"
WANT_B="$(build 'second release')"
run publish - || fail "publishing the second release failed"
cp "$WORK/bucket/shipshape/releases/bbbbbbbbbbbb/$NAME.sig" "$WORK/second.sig"
cp "$REL/$NAME.sig" "$WORK/bucket/shipshape/releases/bbbbbbbbbbbb/$NAME.sig"  # another release's signature
if run deploy bbbbbbbbbbbb; then fail "a release with a signature that does not verify was deployed"; fi
grep -q "does not verify" "$WORK/out.txt" || fail "bad signature: failure not explained"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer moved to a badly signed release"
cp "$WORK/second.sig" "$WORK/bucket/shipshape/releases/bbbbbbbbbbbb/$NAME.sig"
ok "deploy: unpublished release and bad signature refused, pointer untouched"

# 5. a release the VMs never report: the job fails and the pointer goes back
if run deploy aaaaaaaaaaaa; then fail "a release the VM never reported was called a success"; fi
grep -q "did not become ready" "$WORK/out.txt" || fail "failure not explained"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "pointer not restored after a failed release: $(pointer)"
ok "deploy: release never ready: job fails, pointer restored"

# 6. the same release, reported this time; a re-run keeps previous.json; rollback re-points at it
run deploy bbbbbbbbbbbb || fail "the second release failed"
[ "$(pointer)" = "bbbbbbbbbbbb $WANT_B" ] || fail "pointer not moved: $(pointer)"
run deploy bbbbbbbbbbbb || fail "a re-run of the same deploy failed"
[ "$(python3 -c 'import json; print(json.load(open("'"$WORK"'/bucket/shipshape/previous.json"))["version"])')" = aaaaaaaaaaaa ] ||
  fail "a re-run of the same release overwrote previous.json"
run deploy aaaaaaaaaaaa rollback || fail "rollback failed"
[ "$(pointer)" = "aaaaaaaaaaaa $WANT" ] || fail "rollback did not re-point at the previous release: $(pointer)"
ok "deploy: re-run keeps previous.json; rollback moves the pointer back"

# 7. publish: another binary under a published version is refused; a tampered local binary is never uploaded
export CIRCLE_SHA1=aaaaaaaaaaaa0000000000000000000000000000
build 'another build of the same commit' >/dev/null
if run publish -; then fail "a different binary replaced a published release"; fi
grep -q "exists and differs" "$WORK/out.txt" || fail "replacement: failure not explained"
cmp -s "$REL/$NAME.sig" "$WORK/first.sig" || fail "the published release was changed"
export CIRCLE_SHA1=cccccccccccc0000000000000000000000000000
build 'third release' >/dev/null
printf 'tampered\n' >>"$WORK/repo/out/release/$NAME"
if run publish -; then fail "a tampered binary was published"; fi
[ ! -e "$WORK/bucket/shipshape/releases/cccccccccccc" ] || fail "a tampered binary was uploaded"
ok "publish: replacement of a published release refused; tampered binary refused before upload"
echo "test-deploy-vm: $passed passed, 0 failed"
