#!/usr/bin/env bash
# deploy-eks (main only): roll the published chart + image out to EKS, prove it, or roll back.
#   1. kubeconfig for infra/aws/eks's cluster (the deploy role's access entry: Edit in the app namespace)
#   2. helm upgrade --install --atomic --wait of oci://<registry>/charts/shipshape at the published
#      version, values = infra/aws/eks's `helm_values` output + image.tag (a failed rollout reverts itself)
#   3. helm test (the chart's `shipshape smoke` hook against the Service, inside the cluster)
#   4. scripts/smoke.sh against the public URL (`service_url` output)
#   If 3 or 4 fail, `helm rollback` to the previous revision, then fail.
# Inputs: out/publish/publish.env (publish job) or IMAGE_TAG + CHART_VERSION (a manual redeploy);
# AWS_REGION, ECR_REGISTRY, TF_STATE_BUCKET, TF_STATE_KMS_KEY_ARN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

if [ -f out/publish/publish.env ]; then
  # shellcheck disable=SC1091
  source out/publish/publish.env
fi
require_env AWS_REGION ECR_REGISTRY TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN IMAGE_TAG CHART_VERSION
require_cmd aws helm kubectl terraform
ensure_python3
STACK=infra/aws/eks
RELEASE="${HELM_RELEASE:-shipshape}"
CHART_REF="${CHART_REF:-oci://${ECR_REGISTRY}/charts/shipshape}"
OUT=out/deploy-eks
mkdir -p "$OUT"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
export KUBECONFIG="$WORK/kubeconfig"

read_stack() {
  CLUSTER="$(tf_output "$STACK" -raw cluster_name)"
  NAMESPACE="$(tf_output "$STACK" -json db_ca_bundle | python3 -c 'import json,sys; print(json.load(sys.stdin)["namespace"])')"
  SERVICE_URL="$(tf_output "$STACK" -raw service_url)"
  tf_output "$STACK" -raw helm_values >"$WORK/values.yaml"
  echo "cluster $CLUSTER, namespace $NAMESPACE, public URL $SERVICE_URL"
}
step "read infra/aws/eks outputs" read_stack

kubeconfig() {
  aws eks update-kubeconfig --region "$AWS_REGION" --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null
  kubectl version
  aws ecr get-login-password --region "$AWS_REGION" |
    helm registry login --username AWS --password-stdin "$ECR_REGISTRY"
}
step "kubeconfig + registry login" kubeconfig

PREVIOUS="$(helm history "$RELEASE" -n "$NAMESPACE" --max 1 -o json 2>/dev/null |
  python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[-1]["revision"] if h else "")' 2>/dev/null || true)"

upgrade() {
  helm upgrade --install "$RELEASE" "$CHART_REF" --version "$CHART_VERSION" \
    --namespace "$NAMESPACE" --values "$WORK/values.yaml" --set-string "image.tag=$IMAGE_TAG" \
    --atomic --wait --timeout 10m --history-max 20
  helm history "$RELEASE" -n "$NAMESPACE" --max 5 | tee "$OUT/history.txt"
}
step "helm upgrade --install --atomic --wait ($CHART_VERSION, image $IMAGE_TAG)" upgrade
UPGRADED=1
VERIFIED=0

rollback_on_failure() {
  if [ -n "$PREVIOUS" ]; then
    echo "deploy-eks: verification failed; rolling back to revision $PREVIOUS" >&2
    helm rollback "$RELEASE" "$PREVIOUS" -n "$NAMESPACE" --wait --timeout 10m || true
  else
    echo "deploy-eks: verification failed on the first install; nothing to roll back to" >&2
  fi
}
verify() {
  helm test "$RELEASE" -n "$NAMESPACE" --timeout 5m --logs
  BASE_URL="$SERVICE_URL" scripts/smoke.sh
}
# --atomic covers a rollout that never gets ready; this covers one that is ready but wrong.
after_verify() {
  if [ "$UPGRADED" = 1 ] && [ "$VERIFIED" != 1 ]; then rollback_on_failure; fi
}
on_exit after_verify
step "verify: helm test + public smoke" verify
VERIFIED=1
echo "$SERVICE_URL" >"$OUT/base_url"
printf 'release %s revision in %s: chart %s, image %s\n' "$RELEASE" "$NAMESPACE" "$CHART_VERSION" "$IMAGE_TAG" | tee "$OUT/deployed.txt"
finish
