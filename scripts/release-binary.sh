#!/usr/bin/env bash
# release-binary: the VM release artifact, built once. cargo build --release (revision = short commit),
# then out/release/{shipshape-linux-<arch>, shipshape-linux-<arch>.sha256, release.env}: what
# scripts/deploy-vm.sh uploads, signs (cosign sign-blob with the KMS key) and points the VMs at.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cargo.sh
source scripts/lib/cargo.sh

ensure_python3 # cargo_target_dir reads cargo's JSON with it
OUT=out/release
SHA="$(git_short_sha)"
ARCH="$(uname -m)"
NAME="shipshape-linux-$ARCH"

step "cargo build --release" env SHIPSHAPE_REVISION="$SHA" cargo build --release --locked --bin shipshape

package() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  cp "$(cargo_target_dir)/release/shipshape" "$OUT/$NAME"
  (cd "$OUT" && sha256sum "$NAME" >"$NAME.sha256")
  printf 'RELEASE_VERSION=%s\nRELEASE_ARCH=%s\nRELEASE_FILE=%s\nRELEASE_SHA256=%s\nCRATE_VERSION=%s\n' \
    "$SHA" "$ARCH" "$NAME" "$(cut -d' ' -f1 "$OUT/$NAME.sha256")" "$(crate_version)" >"$OUT/release.env"
  cat "$OUT/release.env"
  ls -l "$OUT/$NAME"
}
step "package out/release" package
step "binary runs" "$OUT/$NAME" --help
finish
