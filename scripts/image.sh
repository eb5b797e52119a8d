#!/usr/bin/env bash
# image: the real image build of the pipeline (needs a Docker engine: CircleCI's machine executor).
#   1. docker buildx build of the Dockerfile for linux/amd64 with a local BuildKit cache
#      (~/.cache/shipshape/buildx, saved between CircleCI runs), OCI labels from build args
#   2. Trivy CVE scan of the built image: any CRITICAL vulnerability fails (the project's image policy)
#   3. SBOM (CycloneDX) of the image
#   -> out/image/shipshape.tar + image.env (workspace, pushed unchanged by scripts/publish.sh)
#   -> out/image-report/{trivy.txt,trivy.json,sbom.cdx.json} (artifacts)
# The daemonless offline proof of the same Dockerfile is scripts/image-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

TRIVY_IMAGE="${TRIVY_IMAGE:-aquasec/trivy:0.65.0}"
PLATFORM="${IMAGE_PLATFORM:-linux/amd64}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/shipshape"
SHA="$(git_short_sha)"
TAG="shipshape:${SHA}"

require_cmd docker git
docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info failed): run on a machine with Docker (CircleCI: machine executor)"
mkdir -p out/image out/image-report "$CACHE/buildx" "$CACHE/trivy"

build() {
  docker buildx version
  docker buildx inspect shipshape >/dev/null 2>&1 || docker buildx create --name shipshape --driver docker-container >/dev/null
  docker buildx build --builder shipshape --platform "$PLATFORM" \
    --cache-from "type=local,src=$CACHE/buildx" \
    --cache-to "type=local,dest=$CACHE/buildx-new,mode=max" \
    --build-arg SHIPSHAPE_REVISION="$SHA" \
    --build-arg SHIPSHAPE_VERSION="$(crate_version)" \
    --build-arg SHIPSHAPE_CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --build-arg SHIPSHAPE_SOURCE="${CIRCLE_REPOSITORY_URL:-$(git config --get remote.origin.url || true)}" \
    --tag "$TAG" --load .
  # Replace the cache atomically so it does not grow without bound (BuildKit's documented pattern).
  rm -rf "$CACHE/buildx" && mv "$CACHE/buildx-new" "$CACHE/buildx"
  docker image inspect "$TAG" --format 'image {{.Id}} {{.Size}} bytes, user {{.Config.User}}'
  docker save "$TAG" -o out/image/shipshape.tar
  printf 'IMAGE_LOCAL_TAG=%s\nIMAGE_SHA=%s\n' "$TAG" "$SHA" >out/image/image.env
}
step "buildx build $TAG ($PLATFORM)" build

trivy() {
  docker run --rm -v "$PWD/out:/out" -v "$CACHE/trivy:/root/.cache/trivy" "$TRIVY_IMAGE" "$@"
}
scan() {
  trivy image --input /out/image/shipshape.tar --format json --output /out/image-report/trivy.json
  trivy convert --format table --output /out/image-report/trivy.txt /out/image-report/trivy.json
  cat out/image-report/trivy.txt
  # The gate: exit code 1 on any CRITICAL finding, fixed or not.
  trivy image --input /out/image/shipshape.tar --skip-db-update --severity CRITICAL --exit-code 1 --format table
}
step "Trivy CVE scan (fail on CRITICAL)" scan
step "SBOM (CycloneDX)" trivy image --input /out/image/shipshape.tar --skip-db-update --format cyclonedx --output /out/image-report/sbom.cdx.json
finish
