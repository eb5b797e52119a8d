#!/usr/bin/env bash
# publish-vm (main or a release tag): the VM release of this commit, uploaded and signed by the publish
# identity (AWS: the bootstrap's publish role; GCP: the publish service account), DEPLOY_VM_CLOUD=aws|gcp.
# It never moves the release pointer: scripts/deploy-vm.sh (the deploy identity) does that, so neither
# identity alone can make the VMs run a binary it chose (docs/vm.md, "The release contract").
#   <prefix>releases/<version>/shipshape-linux-<arch>, .sha256, .sig   (<version> = the short commit)
# Each object is written once (AWS: If-None-Match, which the bucket policy requires; GCP: generation 0,
# and the account may create but not replace objects). A re-run finds them: the binary and .sha256 must
# be the very same, an existing .sig must verify, and only what is missing is written.
# Inputs: out/release/ (release-binary), RELEASE_BUCKET, RELEASE_PREFIX, RELEASE_SIGNING_KEY (or the
# context's COSIGN_KEY); AWS_REGION for AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cosign.sh
source scripts/lib/cosign.sh
# shellcheck source=scripts/delivery/release-bucket.sh
source scripts/delivery/release-bucket.sh

CLOUD="${DEPLOY_VM_CLOUD:-aws}"
RELEASE_SIGNING_KEY="${RELEASE_SIGNING_KEY:-${COSIGN_KEY:-}}"
case "$CLOUD" in
  aws) require_env AWS_REGION RELEASE_BUCKET RELEASE_PREFIX RELEASE_SIGNING_KEY && require_cmd aws ;;
  gcp) require_env RELEASE_BUCKET RELEASE_PREFIX RELEASE_SIGNING_KEY && require_cmd gcloud ;;
  *) die "DEPLOY_VM_CLOUD must be aws or gcp" ;;
esac
require_cmd sha256sum curl
if [ "$CLOUD" = gcp ]; then
  step "gcp identity: publish" gcp_auth GCP_PUBLISH_SERVICE_ACCOUNT
fi
# RELEASE_SIGN_COMMAND / RELEASE_VERIFY_COMMAND replace cosign in tests.
if [ -z "${RELEASE_SIGN_COMMAND:-}" ] || [ -z "${RELEASE_VERIFY_COMMAND:-}" ]; then
  step "cosign $COSIGN_VERSION" need_cosign
fi
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
ARCH="${RELEASE_ARCH:-x86_64}"
NAME="shipshape-linux-$ARCH"
VERSION="$(git_short_sha)"
KEY="${RELEASE_PREFIX}releases/$VERSION/$NAME"

# cosign sign-blob --key awskms://... | gcpkms://... prints the base64 DER ECDSA P-256 signature over the
# blob's SHA-256: what the VMs verify with openssl and the public key.
sign() { # sign FILE > SIG
  if [ -n "${RELEASE_SIGN_COMMAND:-}" ]; then
    $RELEASE_SIGN_COMMAND "$1"
  else
    cosign sign-blob --yes --tlog-upload=false --key "$RELEASE_SIGNING_KEY" "$1"
  fi
}

check_local() {
  [ -f "out/release/$NAME" ] && [ -f "out/release/$NAME.sha256" ] ||
    die "no out/release/$NAME(.sha256): attach the release-binary job's workspace"
  (cd out/release && sha256sum --check --quiet "$NAME.sha256") || die "out/release/$NAME does not match its sha256"
  SHA256="$(cut -d' ' -f1 "out/release/$NAME.sha256")"
  echo "release $VERSION: $NAME $SHA256"
}
step "the release binary" check_local

# once KEY FILE TYPE SAME: create KEY, or find it already there and accept it only if SAME(existing) holds.
once() {
  local key="$1" file="$2" type="$3" same="$4"
  if obj_create "$file" "$key" "$type" 2>"$WORK/create.err"; then
    echo "uploaded $key"
  elif obj_get "$key" "$WORK/existing" 2>/dev/null; then
    "$same" "$WORK/existing" || die "$key exists and differs: a published release is never replaced (publish another commit)"
    echo "$key already published (the same)"
  else
    cat "$WORK/create.err" >&2
    die "could not upload $key"
  fi
}
same_binary() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }
same_checksum() { [ "$(cut -d' ' -f1 "$1")" = "$SHA256" ]; }
signature_verifies() { verify "out/release/$NAME" "$1"; }

upload() {
  once "$KEY" "out/release/$NAME" application/octet-stream same_binary
  once "$KEY.sha256" "out/release/$NAME.sha256" text/plain same_checksum
  if obj_get "$KEY.sig" "$WORK/existing.sig" 2>/dev/null; then
    signature_verifies "$WORK/existing.sig" || die "$KEY.sig exists and does not verify with the signing key"
    echo "$KEY.sig already published (verifies)"
    return 0
  fi
  sign "out/release/$NAME" >"$WORK/$NAME.sig"
  verify "out/release/$NAME" "$WORK/$NAME.sig" || die "the new signature does not verify with the signing key"
  once "$KEY.sig" "$WORK/$NAME.sig" text/plain signature_verifies
}
step "upload and sign releases/$VERSION (write-once)" upload
mkdir -p out/publish-vm
printf 'RELEASE_VERSION=%s\nRELEASE_SHA256=%s\nRELEASE_KEY=%s\n' "$VERSION" "$SHA256" "$KEY" | tee out/publish-vm/release.env
finish
