#!/usr/bin/env bash
# Exercises scripts/lib/cosign.sh need_cosign without the network: the release page is a local directory
# (COSIGN_RELEASE_URL=file://...). Proves: a download whose SHA-256 is not the pinned one is refused and
# nothing is installed; a cached binary that no longer has the pinned SHA-256 is not used; with a pin
# that matches (a copy of the library pinned to a stand-in binary) the binary is installed, cached, put
# on PATH and runs. The real pin is exercised by every signing and verifying job (publish, publish-vm,
# deploy-eks, deploy-vm), which call need_cosign against the real release page.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
case "$(uname -m)" in
  x86_64) PLATFORM=linux-amd64 ;;
  aarch64 | arm64) PLATFORM=linux-arm64 ;;
  *) echo "test-cosign-install: no pinned cosign for $(uname -m)" >&2; exit 1 ;;
esac
VERSION="$(sed -n 's/^COSIGN_VERSION="\(v[0-9.]*\)"$/\1/p' scripts/lib/cosign.sh)"
[ -n "$VERSION" ] || { echo "test-cosign-install: no COSIGN_VERSION in scripts/lib/cosign.sh" >&2; exit 1; }
mkdir -p "$WORK/release/$VERSION"
printf '#!/bin/sh\necho "stand-in cosign $*"\n' >"$WORK/release/$VERSION/cosign-$PLATFORM"
FAKE_SHA="$(sha256sum "$WORK/release/$VERSION/cosign-$PLATFORM" | cut -d' ' -f1)"

try() { # try LIB: need_cosign from LIB in a clean shell; prints what it did
  # shellcheck disable=SC2016 # the inner shell expands $1
  env -i HOME="$WORK/home" PATH=/usr/bin:/bin XDG_CACHE_HOME="$WORK/cache" COSIGN_RELEASE_URL="file://$WORK/release" \
    bash -c 'source "$1" && need_cosign && command -v cosign && cosign version' _ "$1" >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-cosign-install: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}
CACHED="$WORK/cache/shipshape/cosign/$VERSION/cosign"

# 1. the pinned library refuses a binary that is not the pinned release
if try scripts/lib/cosign.sh; then fail "a binary with another SHA-256 was accepted"; fi
grep -q "not the pinned" "$WORK/out.txt" || fail "refusal not explained"
[ ! -e "$CACHED" ] && [ ! -e "$CACHED.download" ] || fail "a refused binary was left in the cache"
echo "test-cosign-install: a download with another SHA-256 is refused, nothing cached"

# 2. a matching pin installs, caches and runs it
sed "s/\[$PLATFORM\]=\"[0-9a-f]*\"/[$PLATFORM]=\"$FAKE_SHA\"/" scripts/lib/cosign.sh >"$WORK/cosign-pinned.sh"
grep -q "$FAKE_SHA" "$WORK/cosign-pinned.sh" || fail "could not pin the stand-in"
try "$WORK/cosign-pinned.sh" || fail "a binary with the pinned SHA-256 was refused"
if ! grep -q "^$CACHED$" "$WORK/out.txt" || ! grep -q "stand-in cosign version" "$WORK/out.txt"; then
  fail "cosign not installed on PATH"
fi
rm -rf "$WORK/release"
try "$WORK/cosign-pinned.sh" || fail "the cached, verified binary was not reused"
echo "test-cosign-install: a binary with the pinned SHA-256 is installed, cached and reused"

# 3. a cached binary that was changed is not used (and cannot be replaced without a good download)
printf '#!/bin/sh\necho tampered\n' >"$CACHED"
if try "$WORK/cosign-pinned.sh"; then fail "a tampered cached binary was used"; fi
echo "test-cosign-install: a tampered cached binary is not used"
echo "test-cosign-install: 3 passed, 0 failed"
