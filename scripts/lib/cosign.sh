# shellcheck shell=bash
# need_cosign: a pinned cosign release on PATH for the jobs that sign (publish, publish-vm-release) and
# verify (deploy-eks, deploy-vm), the same version on every runner. The binary comes from the release
# page of sigstore/cosign and is used only if its SHA-256 is the one pinned here; it is cached under
# ~/.cache/shipshape/cosign/<version>/ and checked again on every use.
#
# The SHA-256 values are the ones sigstore's own installer pins for this release (sigstore/cosign-installer,
# action.yml of commit 789d2886c082e8fb7b9710810b73c3f0840573ed, bootstrap_version v2.4.1:
# bootstrap_linux_amd64_sha / bootstrap_linux_arm64_sha). To move to another release, take its values
# from the same place (or the release's cosign_checksums.txt, itself verified), never from a download.

COSIGN_VERSION="v2.4.1"
declare -A COSIGN_SHA256=(
  [linux-amd64]="8b24b946dd5809c6bd93de08033bcf6bc0ed7d336b7785787c080f574b89249b" # pragma: allowlist secret (a checksum)
  [linux-arm64]="3b2e2e3854d0356c45fe6607047526ccd04742d20bd44afb5be91fa2a6e7cb4a" # pragma: allowlist secret (a checksum)
)
# Tests point this at a local directory (file://...); the pinned SHA-256 applies all the same.
COSIGN_RELEASE_URL="${COSIGN_RELEASE_URL:-https://github.com/sigstore/cosign/releases/download}"

need_cosign() {
  local platform dir bin want got
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) platform=linux-amd64 ;;
    Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
    *) echo "need_cosign: no pinned cosign for $(uname -s)-$(uname -m)" >&2; return 1 ;;
  esac
  want="${COSIGN_SHA256[$platform]}"
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape/cosign/$COSIGN_VERSION"
  bin="$dir/cosign"
  if [ -x "$bin" ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$want" ]; then
    PATH="$dir:$PATH"
    return 0
  fi
  mkdir -p "$dir"
  rm -f "$bin" "$bin.download"
  curl --fail --silent --show-error --location --retry 3 --proto '=https,file' \
    -o "$bin.download" "$COSIGN_RELEASE_URL/$COSIGN_VERSION/cosign-$platform" || {
    rm -f "$bin.download"
    echo "need_cosign: could not download cosign $COSIGN_VERSION ($platform)" >&2
    return 1
  }
  got="$(sha256sum "$bin.download" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    rm -f "$bin.download"
    echo "need_cosign: cosign $COSIGN_VERSION ($platform) has SHA-256 $got, not the pinned $want: refused" >&2
    return 1
  fi
  chmod 0755 "$bin.download"
  mv "$bin.download" "$bin"
  PATH="$dir:$PATH"
  echo "cosign $COSIGN_VERSION ($platform), SHA-256 verified: $bin"
}
