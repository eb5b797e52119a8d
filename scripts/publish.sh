#!/usr/bin/env bash
# publish (main only): push the image index that scripts/image.sh built and scanned (linux/amd64 +
# linux/arm64, out/image/shipshape.oci.tar), unchanged and whole, to ECR with the short-SHA tag (and the
# crate version on a release tag); the repositories' tags are immutable. Sign the index digest and each
# platform's manifest with cosign and the KMS key, attach the SBOM (of the amd64 image, the one Trivy
# scanned) as a signed attestation to that platform's manifest, then package the chart with the matching
# version and push it to ECR as an OCI artifact, signed too.
# Writes out/publish/publish.env for deploy-eks, which deploys by the index digest (each node pulls its
# own platform). Runs with the publish role (the signer); the VM release is scripts/publish-vm.sh's.
#   AWS_REGION, ECR_REGISTRY, COSIGN_KEY (awskms:///alias ARN, bootstrap output cosign_key_uri)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cosign.sh
source scripts/lib/cosign.sh
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh

require_env AWS_REGION ECR_REGISTRY COSIGN_KEY
require_cmd aws docker git
ensure_python3
[ -f out/image/shipshape.oci.tar ] || die "no out/image/shipshape.oci.tar: attach the image job's workspace"
HELM_IMAGE="${HELM_IMAGE:-alpine/helm:3.16.4}"
SHA="$(git_short_sha)"
VERSION="$(crate_version)"
IMAGE_REPO="${ECR_REGISTRY}/shipshape"
CHART_REPO="oci://${ECR_REGISTRY}/charts"
# A chart version must be SemVer; the commit makes it unique (the 'g' keeps an all-digit SHA valid).
CHART_VERSION="${VERSION}-g${SHA}"
TAGS=("$SHA")
if [ -n "${CIRCLE_TAG:-}" ]; then
  [ "${CIRCLE_TAG#v}" = "$VERSION" ] || die "git tag $CIRCLE_TAG does not match Cargo.toml version $VERSION"
  TAGS+=("$VERSION")
  CHART_VERSION="$VERSION"
fi
OUT=out/publish
mkdir -p "$OUT"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
export DOCKER_CONFIG="$WORK/docker"
mkdir -p "$DOCKER_CONFIG"

step "cosign $COSIGN_VERSION" need_cosign
# helm from a pinned image when not installed.
helm() {
  if command -v helm >/dev/null 2>&1; then command helm "$@"; return; fi
  docker run --rm --user "$(id -u):$(id -g)" -e HOME="$WORK" -e HELM_REGISTRY_CONFIG="$DOCKER_CONFIG/config.json" \
    -v "$WORK:$WORK" -v "$PWD:$PWD" -w "$PWD" "$HELM_IMAGE" "$@"
}

# skopeo pushes the OCI index from the archive (Docker cannot); from the distribution's packages when
# the runner lacks it (the machine executor's user has password-less sudo).
need_skopeo() {
  command -v skopeo >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ]; then need_apt skopeo; else sudo -E bash -c 'source scripts/lib/apt.sh && need_apt skopeo'; fi
}
step "skopeo" need_skopeo

login() {
  aws ecr get-login-password --region "$AWS_REGION" |
    docker login --username AWS --password-stdin "$ECR_REGISTRY" >/dev/null
  echo "logged in to $ECR_REGISTRY"
}
step "ECR login" login

# The archive's index: its digest is what the tags name and what is signed and deployed.
read_index() {
  python3 - out/image/shipshape.oci.tar >"$WORK/index.env" <<'PY'
import hashlib, json, sys, tarfile
tar = tarfile.open(sys.argv[1])
blob = lambda d: tar.extractfile("blobs/" + d.replace(":", "/")).read()
top = json.loads(tar.extractfile("index.json").read())["manifests"]
assert len(top) == 1, f"index.json names {len(top)} images, expected the one multi-platform index"
digest = top[0]["digest"]
raw = blob(digest)
assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, "index blob does not match its digest"
index = json.loads(raw)
platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
             for m in index.get("manifests", []) if m.get("platform", {}).get("os") != "unknown"}
assert {"linux/amd64", "linux/arm64"} <= set(platforms), f"the index lacks a platform: {sorted(platforms)}"
print(f"INDEX_DIGEST={digest}")
print(f"AMD64_DIGEST={platforms['linux/amd64']}")
print(f"PLATFORMS='{' '.join(sorted(platforms))}'")
PY
  # shellcheck disable=SC1091
  source "$WORK/index.env"
  echo "index $INDEX_DIGEST: $PLATFORMS"
}
step "read the image index" read_index

push_image() {
  local tag existing pushed
  for tag in "${TAGS[@]}"; do
    existing="$(aws ecr describe-images --repository-name shipshape --image-ids "imageTag=$tag" \
      --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
    if [[ "$existing" == sha256:* ]]; then
      # Immutable tags: a re-run may only find the very same index there.
      [ "$existing" = "$INDEX_DIGEST" ] || die "tag $tag already holds another image ($existing, not $INDEX_DIGEST); refusing to continue"
      echo "tag $tag already holds this index ($existing)"
      continue
    fi
    # --all: the index and every platform's image; --preserve-digests: fail rather than re-encode,
    # so the pushed digest is the scanned archive's.
    skopeo copy --all --preserve-digests --dest-authfile "$DOCKER_CONFIG/config.json" \
      --digestfile "$WORK/digest" "oci-archive:out/image/shipshape.oci.tar" "docker://$IMAGE_REPO:$tag"
    pushed="$(cat "$WORK/digest")"
    [ "$pushed" = "$INDEX_DIGEST" ] || die "skopeo pushed $pushed, expected the archive's index $INDEX_DIGEST"
  done
  IMAGE_DIGEST="$(aws ecr describe-images --repository-name shipshape --image-ids "imageTag=$SHA" \
    --query 'imageDetails[0].imageDigest' --output text)"
  [ "$IMAGE_DIGEST" = "$INDEX_DIGEST" ] || die "ECR reports $IMAGE_DIGEST for $SHA, expected $INDEX_DIGEST"
  echo "pushed $IMAGE_REPO@$IMAGE_DIGEST ($PLATFORMS) as ${TAGS[*]}"
}
step "push image index (${TAGS[*]})" push_image

sign_image() {
  local ref="$IMAGE_REPO@$IMAGE_DIGEST"
  # --tlog-upload=false: the private image's names stay out of the public transparency log; the KMS
  # key (only the publish role may sign with it) is the trust anchor. Verify with the same key.
  # A re-run finds the signature already there; signing again would need to rewrite an immutable
  # .sig tag (the repository excludes sha256-*.sig/.att from immutability, infra/aws/bootstrap).
  if cosign verify --insecure-ignore-tlog=true --key "$COSIGN_KEY" "$ref" >/dev/null 2>&1; then
    echo "$ref is already signed"
    return 0
  fi
  # --recursive: the index and each platform's manifest, so a verifier that resolves a platform first
  # (a node's admission policy) finds a signature too.
  cosign sign --yes --recursive --tlog-upload=false --key "$COSIGN_KEY" "$ref"
  if [ -f out/image-report/sbom.cdx.json ]; then
    cosign attest --yes --tlog-upload=false --key "$COSIGN_KEY" --type cyclonedx \
      --predicate out/image-report/sbom.cdx.json "$IMAGE_REPO@$AMD64_DIGEST"
  fi
  cosign verify --insecure-ignore-tlog=true --key "$COSIGN_KEY" "$ref" >/dev/null
  echo "signed and verified $ref"
}
step "cosign sign + verify image" sign_image

push_chart() {
  local pkg digest existing
  # Re-run safe: the chart repository's tags are immutable, and a re-run of the same commit has the
  # same chart version. If it is there, keep it (and its signature) instead of failing the push.
  existing="$(aws ecr describe-images --repository-name charts/shipshape --image-ids "imageTag=$CHART_VERSION" \
    --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
  if [[ "$existing" == sha256:* ]]; then
    echo "chart $CHART_VERSION already published ($existing); verifying its signature instead of pushing"
    cosign verify --insecure-ignore-tlog=true --key "$COSIGN_KEY" "${ECR_REGISTRY}/charts/shipshape@$existing" >/dev/null ||
      cosign sign --yes --tlog-upload=false --key "$COSIGN_KEY" "${ECR_REGISTRY}/charts/shipshape@$existing"
    CHART_DIGEST="$existing"
    return 0
  fi
  helm package deploy/helm/shipshape --version "$CHART_VERSION" --app-version "$SHA" --destination "$OUT"
  pkg="$OUT/shipshape-$CHART_VERSION.tgz"
  [ -f "$pkg" ] || die "helm package did not write $pkg"
  aws ecr get-login-password --region "$AWS_REGION" |
    helm registry login --username AWS --password-stdin "$ECR_REGISTRY"
  helm push "$pkg" "$CHART_REPO" 2>&1 | tee "$WORK/push.txt"
  digest="$(sed -n 's/^Digest: \(sha256:[0-9a-f]*\).*/\1/p' "$WORK/push.txt")"
  [ -n "$digest" ] || die "helm push printed no digest"
  cosign sign --yes --tlog-upload=false --key "$COSIGN_KEY" "${ECR_REGISTRY}/charts/shipshape@$digest"
  CHART_DIGEST="$digest"
}
step "package, push and sign chart $CHART_VERSION" push_chart

cat >"$OUT/publish.env" <<ENV
IMAGE_REPOSITORY=$IMAGE_REPO
IMAGE_TAG=$SHA
IMAGE_DIGEST=$IMAGE_DIGEST
CHART_REF=$CHART_REPO/shipshape
CHART_VERSION=$CHART_VERSION
CHART_DIGEST=$CHART_DIGEST
ENV
cat "$OUT/publish.env"
finish
