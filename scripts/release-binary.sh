#!/usr/bin/env bash
# release-binary: the VM release artifact. cargo build --release, then out/release/{shipshape,
# shipshape.sha256,release.env}: what scripts/deploy-vm.sh uploads and the smoke steps run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

OUT=out/release
SHA="$(git_short_sha)"

step "cargo build --release" env SHIPSHAPE_REVISION="$SHA" cargo build --release --locked --bin shipshape

package() {
  rm -rf "$OUT"
  mkdir -p "$OUT"
  cp target/release/shipshape "$OUT/shipshape"
  (cd "$OUT" && sha256sum shipshape >shipshape.sha256)
  printf 'RELEASE_SHA=%s\nRELEASE_VERSION=%s\nRELEASE_SHA256=%s\n' \
    "$SHA" "$(crate_version)" "$(cut -d' ' -f1 "$OUT/shipshape.sha256")" >"$OUT/release.env"
  cat "$OUT/release.env"
  ls -l "$OUT/shipshape"
}
step "package out/release" package
step "binary runs" "$OUT/shipshape" --help
finish
