#!/usr/bin/env bash
# arm64-build: the release binary cross-compiled for aarch64-unknown-linux-gnu (Graviton nodes and VMs)
# with the Dockerfile's settings (static glibc, Debian's aarch64 cross linker), then `file` must call it a
# static ARM aarch64 executable. The quick, engine-free half of what `make image` proves with BuildKit
# (scripts/image.sh: both platforms of the OCI index); needs `scripts/provision.sh arm64-build` first.
#   -> out/arm64/shipshape-linux-aarch64, out/arm64/file.txt
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/step.sh
source scripts/lib/step.sh
# shellcheck source=scripts/lib/cargo.sh
source scripts/lib/cargo.sh

TARGET=aarch64-unknown-linux-gnu
OUT=out/arm64

lacks() {
  echo "arm64-build: habitat lacks $* (scripts/provision.sh arm64-build)" >&2
  exit 4
}
command -v aarch64-linux-gnu-gcc >/dev/null || lacks "aarch64-linux-gnu-gcc"
command -v file >/dev/null || lacks "file"
[ -d "$(rustc --print sysroot)/lib/rustlib/$TARGET" ] || lacks "the $TARGET standard library"

# The Dockerfile's environment for this target (one source of truth would be nicer; the image job
# checks the Dockerfile's own build of the same target).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"

step "cargo build --release --target $TARGET" cargo build --release --locked --target "$TARGET" --bin shipshape

# The same assertion as scripts/image.sh: a static glibc binary is a static PIE for `file`.
static_aarch64() { grep -qE '^ELF 64-bit LSB .*ARM aarch64.*(statically|static-pie) linked' <<<"$1"; }

# The assertion refuses what it must: this machine's own (x86-64, dynamic) `file` binary, and an aarch64
# binary linked dynamically (what a missing +crt-static gives).
self_test() {
  ! static_aarch64 "$(file -b -L "$(command -v file)")" ||
    { echo "arm64-build: self-test: the check accepted this machine's own binary" >&2; exit 1; }
  ! static_aarch64 "ELF 64-bit LSB pie executable, ARM aarch64, version 1 (SYSV), dynamically linked, interpreter /lib/ld-linux-aarch64.so.1, for GNU/Linux 3.7.0, stripped" ||
    { echo "arm64-build: self-test: the check accepted a dynamic aarch64 binary" >&2; exit 1; }
}
step "self-test: the file check refuses x86-64 and dynamic binaries" self_test

check_file() {
  local bin kind
  bin="$(cargo_target_dir)/$TARGET/release/shipshape"
  mkdir -p "$OUT"
  cp "$bin" "$OUT/shipshape-linux-aarch64"
  kind="$(file -b "$OUT/shipshape-linux-aarch64")"
  echo "$kind" | tee "$OUT/file.txt"
  static_aarch64 "$kind" || { echo "arm64-build: $bin is not a static ARM aarch64 ELF executable" >&2; exit 1; }
}
step "file: static ARM aarch64 ELF" check_file
step_summary
