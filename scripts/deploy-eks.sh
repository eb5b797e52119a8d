#!/usr/bin/env bash
# deploy-eks (main only): roll the published chart + image out to EKS, prove it, or roll back.
#   1. kubeconfig for infra/aws/eks's cluster (the deploy role's access entry: Edit in the app
#      namespace); first a clear error if this runner's address is not admitted to the API endpoint
#   2. cosign verify of the image digest and of the chart (KMS key) — nothing unsigned is deployed
#   3. helm upgrade --install --rollback-on-failure --wait (Helm 4's name for --atomic) of
#      oci://<registry>/charts/shipshape at the published version, values = infra/aws/eks's
#      `helm_values` output + image.tag + image.digest (the pods pull exactly the verified image)
#   4. the new pods carry the ALB target-health readiness gate (Auto Mode's namespace label works)
#   5. helm test (`shipshape smoke` against the Service, inside the cluster)
#   6. scripts/smoke.sh against the public URL; on the first install it first waits (up to
#      FIRST_DEPLOY_WAIT_SECS, 15 min) for the ALB address, the DNS record and the certificate
#   If 5 or 6 fail, `helm rollback` to the previous revision, then fail.
# Inputs: out/publish/publish.env (publish job) or IMAGE_TAG + IMAGE_DIGEST + CHART_VERSION (a manual
# redeploy); AWS_REGION, ECR_REGISTRY, TF_STATE_BUCKET, TF_STATE_KMS_KEY_ARN, COSIGN_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/cosign.sh
source scripts/lib/cosign.sh

if [ -f out/publish/publish.env ]; then
  # shellcheck disable=SC1091
  source out/publish/publish.env
fi
require_env AWS_REGION ECR_REGISTRY TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN IMAGE_TAG IMAGE_DIGEST CHART_VERSION COSIGN_KEY
require_cmd aws helm kubectl terraform curl
[[ "$IMAGE_DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || die "IMAGE_DIGEST must be sha256:<64 hex>, got '$IMAGE_DIGEST'"
FIRST_DEPLOY_WAIT_SECS="${FIRST_DEPLOY_WAIT_SECS:-900}"
ensure_python3
STACK=infra/aws/eks
RELEASE="${HELM_RELEASE:-shipshape}"
CHART_REF="${CHART_REF:-oci://${ECR_REGISTRY}/charts/shipshape}"
OUT=out/deploy-eks
mkdir -p "$OUT"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
export KUBECONFIG="$WORK/kubeconfig"

step "cosign $COSIGN_VERSION" need_cosign

read_stack() {
  CLUSTER="$(tf_output "$STACK" -raw cluster_name)"
  NAMESPACE="$(tf_output "$STACK" -json db_ca_bundle | python3 -c 'import json,sys; print(json.load(sys.stdin)["namespace"])')"
  SERVICE_URL="$(tf_output "$STACK" -raw service_url)"
  tf_output "$STACK" -raw helm_values >"$WORK/values.yaml"
  echo "cluster $CLUSTER, namespace $NAMESPACE, public URL $SERVICE_URL"
}
step "read infra/aws/eks outputs" read_stack

# The API endpoint is private plus CircleCI's job IP ranges (infra/aws/eks ci_api_access): a runner
# outside them gets a timeout, so say why instead.
api_reachable() {
  local ip cidrs
  ip="$(curl --fail --silent --max-time 10 https://checkip.amazonaws.com | tr -d '[:space:]')" || { echo "could not learn this runner's address; trying the API anyway"; return 0; }
  cidrs="$(aws eks describe-cluster --region "$AWS_REGION" --name "$CLUSTER" --query 'cluster.resourcesVpcConfig.publicAccessCidrs' --output json)"
  python3 - "$ip" "$cidrs" <<'PY' || die "this runner ($ip) is not in the cluster's public API CIDRs: run the job with circleci_ip_ranges: true, or add the address to cluster_public_access_cidrs (infra/aws/eks)"
import ipaddress, json, sys
ip = ipaddress.ip_address(sys.argv[1])
sys.exit(0 if any(ip in ipaddress.ip_network(c) for c in json.loads(sys.argv[2]) or []) else 1)
PY
  echo "runner $ip is admitted to the API endpoint"
}
step "API endpoint admits this runner" api_reachable

kubeconfig() {
  aws eks update-kubeconfig --region "$AWS_REGION" --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null
  kubectl version
  aws ecr get-login-password --region "$AWS_REGION" |
    helm registry login --username AWS --password-stdin "$ECR_REGISTRY"
}
step "kubeconfig + registry login" kubeconfig

# Only what publish signed reaches the cluster: the image by digest, and the chart. --insecure-ignore-tlog:
# publish keeps the private names out of the public transparency log; the KMS key is the trust anchor.
verify_signatures() {
  local chart_digest
  cosign verify --insecure-ignore-tlog=true --key "$COSIGN_KEY" "${ECR_REGISTRY}/shipshape@${IMAGE_DIGEST}" >/dev/null
  chart_digest="${CHART_DIGEST:-$(aws ecr describe-images --repository-name charts/shipshape --image-ids "imageTag=$CHART_VERSION" \
    --query 'imageDetails[0].imageDigest' --output text)}"
  [[ "$chart_digest" == sha256:* ]] || die "chart $CHART_VERSION not found in ECR"
  cosign verify --insecure-ignore-tlog=true --key "$COSIGN_KEY" "${ECR_REGISTRY}/charts/shipshape@${chart_digest}" >/dev/null
  echo "signatures verified: image $IMAGE_DIGEST, chart $CHART_VERSION ($chart_digest)"
}
step "cosign verify image and chart" verify_signatures

PREVIOUS="$(helm history "$RELEASE" -n "$NAMESPACE" --max 1 -o json 2>/dev/null |
  python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[-1]["revision"] if h else "")' 2>/dev/null || true)"

upgrade() {
  # --rollback-on-failure: Helm 4's name for --atomic (https://helm.sh/docs/helm/helm_upgrade/).
  helm upgrade --install "$RELEASE" "$CHART_REF" --version "$CHART_VERSION" \
    --namespace "$NAMESPACE" --values "$WORK/values.yaml" \
    --set-string "image.tag=$IMAGE_TAG" --set-string "image.digest=$IMAGE_DIGEST" \
    --rollback-on-failure --wait --timeout 15m --history-max 20
  helm history "$RELEASE" -n "$NAMESPACE" --max 5 | tee "$OUT/history.txt"
}
step "helm upgrade --install --rollback-on-failure --wait ($CHART_VERSION, image $IMAGE_DIGEST)" upgrade
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
# Auto Mode injects the target-health gate only into pods created after the Ingress's target group
# exists, so a first install has none; from the second rollout on, every new pod must have it.
readiness_gates() {
  local gated
  gated="$(kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/instance="$RELEASE",app.kubernetes.io/component=server \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.readinessGates[*].conditionType}{"\n"}{end}')"
  echo "$gated"
  if [ -n "$PREVIOUS" ] && grep -qv 'target-health' <<<"$gated"; then
    die "pods without the ALB target-health readiness gate: is namespace $NAMESPACE labelled eks.amazonaws.com/pod-readiness-gate-inject=enabled (deploy/eks)?"
  fi
}

# First install: the ALB, its DNS record (ExternalDNS) and the certificate take minutes, not seconds.
wait_for_public_path() {
  local deadline=$(( $(date +%s) + FIRST_DEPLOY_WAIT_SECS )) host
  host="${SERVICE_URL#https://}"
  until [ -n "$(kubectl -n "$NAMESPACE" get ingress "$RELEASE" -o jsonpath='{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "no ALB address on ingress/$RELEASE after ${FIRST_DEPLOY_WAIT_SECS} s (kubectl describe ingress)"
    sleep 15
  done
  # Ask the zone's own name servers, so a resolver never caches the name's absence (negative TTL).
  until python3 - "$host" <<'PY'
import socket, subprocess, sys
host = sys.argv[1]
parts = host.split(".")
for i in range(len(parts) - 1):
    zone = ".".join(parts[i:])
    ns = subprocess.run(["dig", "+short", "NS", zone], capture_output=True, text=True).stdout.split()
    if ns:
        out = subprocess.run(["dig", "+short", f"@{ns[0]}", host, "A"], capture_output=True, text=True).stdout
        sys.exit(0 if out.strip() else 1)
sys.exit(1)
PY
  do
    [ "$(date +%s)" -lt "$deadline" ] || die "$host has no DNS record after ${FIRST_DEPLOY_WAIT_SECS} s (ExternalDNS logs)"
    sleep 20
  done
  echo "ALB and DNS record in place for $host"
}

verify() {
  helm test "$RELEASE" -n "$NAMESPACE" --timeout 5m --logs
  readiness_gates
  if [ -z "$PREVIOUS" ]; then
    command -v dig >/dev/null || need_pkgs dnsutils
    wait_for_public_path
    SMOKE_ATTEMPTS="${SMOKE_ATTEMPTS:-40}" BASE_URL="$SERVICE_URL" scripts/smoke.sh
  else
    BASE_URL="$SERVICE_URL" scripts/smoke.sh
  fi
}
# --rollback-on-failure covers a rollout that never gets ready; this covers one that is ready but wrong.
after_verify() {
  if [ "$UPGRADED" = 1 ] && [ "$VERIFIED" != 1 ]; then rollback_on_failure; fi
}
on_exit after_verify
step "verify: helm test + public smoke" verify
VERIFIED=1
echo "$SERVICE_URL" >"$OUT/base_url"
printf 'release %s revision in %s: chart %s, image %s@%s\n' "$RELEASE" "$NAMESPACE" "$CHART_VERSION" "$IMAGE_TAG" "$IMAGE_DIGEST" | tee "$OUT/deployed.txt"
finish
