#!/usr/bin/env bash
# deploy-vm (main or a release tag): point the VMs of one cloud (DEPLOY_VM_CLOUD=aws|gcp) at a release that
# scripts/publish-vm.sh (the publish identity) uploaded and signed. The VMs install releases themselves
# (infra/modules/vm-boot's shipshape-release): this script, with the deploy identity, only checks and points.
#   1. the release <prefix>releases/<version>/ exists and is what it claims: the binary matches its
#      .sha256 and its .sig verifies with the signing key's public key (never point at anything else)
#   2. move the release pointer <prefix>current.json to {version, sha256} (the previous one is kept as
#      previous.json)
#   3. AWS: run the stack's SSM document (shipshape-release deploy) on the deploy group, one instance at
#      a time, no error tolerated. GCP: the VM's release timer picks the pointer up within a minute.
#   4. wait until the VM's /version reports the new revision and /readyz is 200; otherwise put the
#      previous pointer back (the VMs already rolled back by themselves) and fail.
# <version> is this commit's; `deploy-vm.sh rollback` points at the release before the current one;
# DEPLOY_VM_RELEASE=<version> re-points at any published release. Inputs: docs/vm.md "Pipeline".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cosign.sh
source scripts/lib/cosign.sh
# shellcheck source=scripts/delivery/release-bucket.sh
source scripts/delivery/release-bucket.sh

CLOUD="${DEPLOY_VM_CLOUD:-aws}"
# The contexts name the signing key COSIGN_KEY (AWS, awskms:///...) or RELEASE_SIGNING_KEY (GCP); deploy
# only verifies with it.
RELEASE_SIGNING_KEY="${RELEASE_SIGNING_KEY:-${COSIGN_KEY:-}}"
case "$CLOUD" in
  aws) require_env AWS_REGION RELEASE_BUCKET RELEASE_PREFIX TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN RELEASE_SIGNING_KEY
    require_cmd aws terraform ;;
  gcp) require_env RELEASE_BUCKET RELEASE_PREFIX VM_URL RELEASE_SIGNING_KEY
    require_cmd gcloud ;;
  *) die "DEPLOY_VM_CLOUD must be aws or gcp" ;;
esac
require_cmd sha256sum curl
ensure_python3
if [ "$CLOUD" = gcp ]; then
  # CircleCI: the deploy service account through workload identity federation (no key); elsewhere the
  # ambient credentials.
  step "gcp identity: deploy" gcp_auth GCP_DEPLOY_SERVICE_ACCOUNT
fi
# RELEASE_VERIFY_COMMAND replaces cosign in tests.
if [ -z "${RELEASE_VERIFY_COMMAND:-}" ]; then
  step "cosign $COSIGN_VERSION" need_cosign
fi
OUT=out/deploy-vm
mkdir -p "$OUT"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
TIMEOUT_SECS="${DEPLOY_VM_TIMEOUT_SECS:-600}"
POLL_SECS="${DEPLOY_VM_POLL_SECS:-10}"
ARCH="${RELEASE_ARCH:-x86_64}"
NAME="shipshape-linux-$ARCH"
POINTER="${RELEASE_PREFIX}current.json"

# ---- 1. the release --------------------------------------------------------------------------------
check_release() {
  local key
  if [ "${1:-}" = rollback ]; then
    obj_get "${RELEASE_PREFIX}previous.json" "$WORK/target.json" || die "no ${RELEASE_PREFIX}previous.json to roll back to"
    VERSION="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$WORK/target.json")"
  else
    VERSION="${DEPLOY_VM_RELEASE:-$(git_short_sha)}"
  fi
  key="${RELEASE_PREFIX}releases/$VERSION/$NAME"
  for f in "" .sha256 .sig; do
    obj_get "$key$f" "$WORK/$NAME$f" ||
      die "release $VERSION is not published ($key$f missing): the publish-vm job (publish identity) uploads and signs it"
  done
  SHA256="$(cut -d' ' -f1 "$WORK/$NAME.sha256")"
  [ "$(sha256sum "$WORK/$NAME" | cut -d' ' -f1)" = "$SHA256" ] || die "$key does not match its .sha256: refusing to point at it"
  verify "$WORK/$NAME" "$WORK/$NAME.sig" || die "$key.sig does not verify with the signing key: refusing to point at it"
  echo "release $VERSION ($SHA256): published, checksum and signature verified"
}
step "check the release" check_release "${1:-}"

# ---- 2. the pointer --------------------------------------------------------------------------------
point() { # point FILE
  obj_put "$1" "$POINTER" application/json
}
move_pointer() {
  if obj_get "$POINTER" "$WORK/previous.json" 2>/dev/null; then
    # A re-run of the same release keeps previous.json naming the release before it.
    if [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("version", ""))' "$WORK/previous.json")" != "$VERSION" ]; then
      obj_put "$WORK/previous.json" "${RELEASE_PREFIX}previous.json" application/json
    fi
  else
    rm -f "$WORK/previous.json"
  fi
  python3 -c 'import json,sys; print(json.dumps({"version": sys.argv[1], "sha256": sys.argv[2]}))' \
    "$VERSION" "$SHA256" >"$OUT/current.json"
  point "$OUT/current.json"
  cat "$OUT/current.json"
}
step "move the release pointer to $VERSION" move_pointer

# ---- 3. trigger -----------------------------------------------------------------------------------
trigger() {
  [ "$CLOUD" = aws ] || { echo "GCP: the VMs' release timer reads the pointer (every minute)"; return 0; }
  local cmd_id deadline status doc key value
  tf_output infra/aws/vm -json deploy >"$WORK/deploy.json"
  VM_URL="${VM_URL:-$(tf_output infra/aws/vm -raw url)}"
  read -r doc key value < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ssm_document"], d["target_tag_key"], d["target_tag_value"])' "$WORK/deploy.json")
  cmd_id="$(aws ssm send-command --region "$AWS_REGION" --document-name "$doc" --targets "Key=tag:$key,Values=$value" \
    --max-concurrency 1 --max-errors 0 --timeout-seconds 900 --comment "shipshape $VERSION" \
    --query Command.CommandId --output text)"
  echo "SSM command $cmd_id"
  deadline=$(($(date +%s) + TIMEOUT_SECS))
  while :; do
    status="$(aws ssm list-commands --region "$AWS_REGION" --command-id "$cmd_id" \
      --query 'Commands[0].[Status,TargetCount,CompletedCount,ErrorCount]' --output text)"
    echo "  $status"
    case "$status" in
      Success*) break ;;
      Pending* | InProgress* | Delayed*) ;;
      *) aws ssm list-command-invocations --region "$AWS_REGION" --command-id "$cmd_id" --details \
        --query 'CommandInvocations[].[InstanceId,Status,CommandPlugins[0].Output]' --output text >&2 || true
        return 1 ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep "$POLL_SECS"
  done
  [ "$(echo "$status" | awk '{print $2}')" -ge 1 ] || { echo "the command reached no instance" >&2; return 1; }
}

# ---- 4. await -------------------------------------------------------------------------------------
await() {
  local base="${VM_URL%/hello}" deadline rev
  deadline=$(($(date +%s) + TIMEOUT_SECS))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    rev="$(curl --silent --max-time 5 "$base/version" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("revision",""))' 2>/dev/null || true)"
    if [ "$rev" = "$VERSION" ] && curl --fail --silent --output /dev/null --max-time 5 "$base/readyz"; then
      echo "$base reports revision $rev and is ready"
      return 0
    fi
    echo "  $base reports revision '${rev:-?}', waiting for $VERSION"
    sleep "$POLL_SECS"
  done
  return 1
}

restore_pointer() {
  if [ -f "$WORK/previous.json" ]; then
    point "$WORK/previous.json"
    echo "release pointer restored to $(cat "$WORK/previous.json")" >&2
  fi
  die "release $VERSION did not become ready on the VMs; they kept (or rolled back to) the previous release"
}
# An open step, not `step NAME CMD`: a failure here must restore the pointer before the script fails.
step "trigger and await $VERSION on the VMs"
if ! trigger || ! await; then
  restore_pointer
fi
step_end
finish
