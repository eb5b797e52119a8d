#!/usr/bin/env bash
# image: the real image build of the pipeline (needs a Docker engine with BuildKit: CircleCI's machine
# executor, a GitHub runner).
#   1. base images pinned by digest (tools/base-images.lock, as --build-context), build arguments from the
#      commit (scripts/lib/image-args.sh: SOURCE_DATE_EPOCH, labels), file times rewritten to it
#   2. linux/amd64 + linux/arm64 in one OCI index: the builder runs natively and cross-compiles arm64
#      (static glibc, cargo auditable), so no emulation is needed; `file` checks each platform's binary
#   3. Trivy CVE scan of the amd64 image (any CRITICAL fails); SBOMs: Trivy CycloneDX and syft SPDX, which
#      must list the crates of the binary
#   -> out/image/shipshape.tar (amd64, docker archive) + shipshape.oci.tar (both platforms, OCI index)
#      + image.env (workspace; scripts/publish.sh pushes the OCI index whole)
#   -> out/image-report/{trivy.txt,trivy.json,sbom.cdx.json,sbom.spdx.json,file.txt} (artifacts)
# The same Dockerfile is proven on every change by `make image-test` (tests/e2e/image).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

TRIVY_IMAGE="${TRIVY_IMAGE:-aquasec/trivy:0.65.0}"
PLATFORMS="${IMAGE_PLATFORMS:-linux/amd64,linux/arm64}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape"
SHA="$(git_short_sha)"
TAG="shipshape:${SHA}"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"

require_cmd docker git file
docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info failed): run on a machine with Docker (CircleCI: machine executor)"
mkdir -p out/image out/image-report "$CACHE/buildx" "$CACHE/trivy"

ARGS=()
while IFS= read -r kv; do ARGS+=(--build-arg "$kv"); done < <(scripts/lib/image-args.sh)
while read -r ref; do ARGS+=(--build-context "${ref%@*}=docker-image://$ref"); done < <(grep -vE '^\s*(#|$)' tools/base-images.lock)

bx() {
  docker buildx build --builder shipshape --cache-from "type=local,src=$CACHE/buildx" "${ARGS[@]}" "$@" .
}

build() {
  docker buildx version
  docker buildx inspect shipshape >/dev/null 2>&1 || docker buildx create --name shipshape --driver docker-container >/dev/null
  # Every platform once, into the exported cache and an OCI index.
  bx --platform "$PLATFORMS" --cache-to "type=local,dest=$CACHE/buildx-new,mode=max" \
    --output "type=oci,dest=out/image/shipshape.oci.tar,rewrite-timestamp=true"
  # Replace the cache atomically so it does not grow without bound (BuildKit's documented pattern).
  rm -rf "$CACHE/buildx" && mv "$CACHE/buildx-new" "$CACHE/buildx"
  # The amd64 image as a docker archive for the scan and the push (all from the cache by now).
  bx --platform linux/amd64 --output "type=docker,name=$TAG,dest=out/image/shipshape.tar,rewrite-timestamp=true"
  docker load -i out/image/shipshape.tar
  docker image inspect "$TAG" --format 'image {{.Id}} {{.Size}} bytes, user {{.Config.User}}, created {{.Created}}'
  printf 'IMAGE_LOCAL_TAG=%s\nIMAGE_SHA=%s\nIMAGE_PLATFORMS=%s\n' "$TAG" "$SHA" "$PLATFORMS" >out/image/image.env
}
step "buildx build $TAG ($PLATFORMS)" build

# Each platform's binary is what its name says: the arm64 one was cross-compiled.
check_binaries() {
  local platform arch want
  : >out/image-report/file.txt
  for platform in ${PLATFORMS//,/ }; do
    arch="${platform#linux/}"
    bx --platform "$platform" --output "type=local,dest=$WORK/$arch"
    file "$WORK/$arch/usr/local/bin/shipshape" | tee -a out/image-report/file.txt
    case "$arch" in amd64) want="x86-64" ;; arm64) want="ARM aarch64" ;; *) die "no file check for $arch" ;; esac
    # A static glibc binary is a static PIE: `file` says "static-pie linked".
    grep -qE "$want.*(statically|static-pie) linked" <(file -b "$WORK/$arch/usr/local/bin/shipshape") ||
      die "$platform binary is not a static $want executable"
  done
}
step "file: static binary of each platform" check_binaries

trivy() {
  docker run --rm -v "$PWD/out:/out" -v "$CACHE/trivy:/root/.cache/trivy" "$TRIVY_IMAGE" "$@"
}
scan() {
  trivy image --input /out/image/shipshape.tar --format json --output /out/image-report/trivy.json
  trivy convert --format table --output /out/image-report/trivy.txt /out/image-report/trivy.json
  cat out/image-report/trivy.txt
  # The gate: exit code 1 on any CRITICAL finding, fixed or not (crates included: cargo auditable).
  trivy image --input /out/image/shipshape.tar --skip-db-update --severity CRITICAL --exit-code 1 --format table
}
step "Trivy CVE scan (fail on CRITICAL)" scan
step "SBOM (CycloneDX, Trivy)" trivy image --input /out/image/shipshape.tar --skip-db-update --format cyclonedx --output /out/image-report/sbom.cdx.json

syft_sbom() {
  use_venv
  SYFT_CHECK_FOR_APP_UPDATE=false syft -q docker-archive:out/image/shipshape.tar -o spdx-json=out/image-report/sbom.spdx.json
  python3 - out/image-report/sbom.spdx.json <<'PY'
import json, sys
pkgs = json.load(open(sys.argv[1]))["packages"]
crates = {p["name"] for p in pkgs if any("pkg:cargo/" in r.get("referenceLocator", "") for r in p.get("externalRefs", []))}
missing = {"tokio", "axum", "rustls"} - crates
print(f"syft: {len(pkgs)} packages, {len(crates)} crates")
sys.exit(f"SBOM lacks the crates {sorted(missing)}: was the binary built with cargo auditable?" if missing else 0)
PY
}
step "SBOM (SPDX, syft): lists the binary's crates" syft_sbom
finish
