#!/usr/bin/env bash
# publish (main only): push the image that scripts/image.sh built and scanned, unchanged, to ECR with
# the short-SHA tag (and the crate version on a release tag); the repositories' tags are immutable.
# Sign it with cosign and the KMS key, attach the SBOM as a signed attestation, then package the chart
# with the matching version and push it to ECR as an OCI artifact, signed too.
# Writes out/publish/publish.env for deploy-eks. Runs with the publish role (the signer); the VM release is
# scripts/publish-vm.sh's.
#   AWS_REGION, ECR_REGISTRY, COSIGN_KEY (awskms:///alias ARN, bootstrap output cosign_key_uri)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cosign.sh
source scripts/lib/cosign.sh

require_env AWS_REGION ECR_REGISTRY COSIGN_KEY
require_cmd aws docker git
[ -f out/image/shipshape.tar ] || die "no out/image/shipshape.tar: attach the image job's workspace"
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

login() {
  aws ecr get-login-password --region "$AWS_REGION" |
    docker login --username AWS --password-stdin "$ECR_REGISTRY" >/dev/null
  echo "logged in to $ECR_REGISTRY"
}
step "ECR login" login

push_image() {
  local local_tag tag digest existing
  local_tag="$(docker load -i out/image/shipshape.tar | sed -n 's/^Loaded image: //p' | tail -n 1)"
  [ -n "$local_tag" ] || die "docker load printed no image name"
  for tag in "${TAGS[@]}"; do
    existing="$(aws ecr describe-images --repository-name shipshape --image-ids "imageTag=$tag" \
      --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true)"
    docker tag "$local_tag" "$IMAGE_REPO:$tag"
    if [ -n "$existing" ] && [ "$existing" != None ]; then
      # Immutable tags: a re-run may only find the very same image there (same config digest = image id).
      docker pull -q "$IMAGE_REPO:$tag" >/dev/null
      [ "$(docker image inspect -f '{{.Id}}' "$IMAGE_REPO:$tag")" = "$(docker image inspect -f '{{.Id}}' "$local_tag")" ] ||
        die "tag $tag already holds another image ($existing); refusing to continue"
      echo "tag $tag already holds this image ($existing)"
    else
      docker push "$IMAGE_REPO:$tag"
    fi
  done
  IMAGE_DIGEST="$(aws ecr describe-images --repository-name shipshape --image-ids "imageTag=$SHA" \
    --query 'imageDetails[0].imageDigest' --output text)"
  [[ "$IMAGE_DIGEST" == sha256:* ]] || die "could not read the pushed digest"
  echo "pushed $IMAGE_REPO@$IMAGE_DIGEST as ${TAGS[*]}"
}
step "push image (${TAGS[*]})" push_image

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
  cosign sign --yes --tlog-upload=false --key "$COSIGN_KEY" "$ref"
  if [ -f out/image-report/sbom.cdx.json ]; then
    cosign attest --yes --tlog-upload=false --key "$COSIGN_KEY" --type cyclonedx \
      --predicate out/image-report/sbom.cdx.json "$ref"
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
