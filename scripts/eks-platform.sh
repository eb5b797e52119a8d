#!/usr/bin/env bash
# eks-platform: the cluster-level layer between `terraform apply` of infra/aws/eks and the app
# (infra/aws/eks/README.md "Apply order", steps 3-4). Run by the platform admin role after the stack's
# first apply and after controller/version changes; the pipeline's deploy role cannot (its access entry
# is limited to the app namespace, on purpose).
#   platform manifests -> RDS CA bundle ConfigMaps -> External Secrets Operator + ExternalDNS (pinned
#   chart versions) -> database role setup Job (master credentials, own namespace), waited for ->
#   the app's and the migrations' ExternalSecrets, waited for Ready.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

require_env AWS_REGION TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN
require_cmd aws helm kubectl terraform curl openssl
ensure_python3
STACK=infra/aws/eks
# Pinned controller charts; bump deliberately (README: upgrade path) after `helm search repo`.
ESO_VERSION="${EXTERNAL_SECRETS_CHART_VERSION:-0.19.2}"
EXTERNAL_DNS_VERSION="${EXTERNAL_DNS_CHART_VERSION:-1.19.0}"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
export KUBECONFIG="$WORK/kubeconfig"

read_stack() {
  CLUSTER="$(tf_output "$STACK" -raw cluster_name)"
  tf_output "$STACK" -json db_ca_bundle >"$WORK/ca.json"
  tf_output "$STACK" -json controllers >"$WORK/controllers.json"
  tf_output "$STACK" -json controller_helm_values >"$WORK/controller-values.json"
  tf_output "$STACK" -raw platform_manifests >"$WORK/platform.yaml"
  tf_output "$STACK" -raw database_secret_manifests >"$WORK/database-secret.yaml"
  tf_output "$STACK" -raw database_setup_manifests >"$WORK/database-setup.yaml"
  python3 - "$WORK" <<'PY'
import json, sys, pathlib
w = pathlib.Path(sys.argv[1])
for name, doc in json.load(open(w / "controller-values.json")).items():
    (w / f"{name}.values.yaml").write_text(doc)
PY
}
step "read infra/aws/eks outputs" read_stack
jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
NAMESPACE="$(jq_py "$WORK/ca.json" 'd["namespace"]')"

step "kubeconfig" aws eks update-kubeconfig --region "$AWS_REGION" --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
step "platform manifests" kubectl apply -f "$WORK/platform.yaml"

ca_bundle() {
  # AWS's published RDS trust store for the region; public data, checked before use.
  curl --fail --silent --show-error --proto '=https' --retry 3 \
    -o "$WORK/rds-ca.pem" "https://truststore.pki.rds.amazonaws.com/${AWS_REGION}/${AWS_REGION}-bundle.pem"
  openssl crl2pkcs7 -nocrl -certfile "$WORK/rds-ca.pem" | openssl pkcs7 -print_certs -noout | grep -c '^subject=' |
    xargs echo "RDS CA certificates:"
  local ns
  # The app and the setup Job both verify the server (sslmode=verify-full).
  for ns in "$NAMESPACE" "$NAMESPACE-db-admin"; do
    kubectl -n "$ns" create configmap "$(jq_py "$WORK/ca.json" 'd["configMapName"]')" \
      --from-file="$(jq_py "$WORK/ca.json" 'd["key"]')=$WORK/rds-ca.pem" --dry-run=client -o yaml | kubectl apply -f -
  done
}
step "RDS CA bundle ConfigMap" ca_bundle

controllers() {
  helm repo add external-secrets https://charts.external-secrets.io --force-update >/dev/null
  helm repo add external-dns https://kubernetes-sigs.github.io/external-dns/ --force-update >/dev/null
  helm upgrade --install external-secrets external-secrets/external-secrets --version "$ESO_VERSION" \
    --namespace "$(jq_py "$WORK/controllers.json" 'd["external_secrets"]["namespace"]')" \
    --values "$WORK/external_secrets.values.yaml" --atomic --wait --timeout 10m
  helm upgrade --install external-dns external-dns/external-dns --version "$EXTERNAL_DNS_VERSION" \
    --namespace "$(jq_py "$WORK/controllers.json" 'd["external_dns"]["namespace"]')" \
    --values "$WORK/external_dns.values.yaml" --atomic --wait --timeout 10m
}
step "controllers (external-secrets $ESO_VERSION, external-dns $EXTERNAL_DNS_VERSION)" controllers

# Creates the login roles with the master credentials, read at run time; re-runnable (a Job is
# immutable, so the previous run's is replaced).
database_setup() {
  kubectl -n "$NAMESPACE-db-admin" delete job database-setup --ignore-not-found --wait=true
  kubectl apply -f "$WORK/database-setup.yaml"
  kubectl -n "$NAMESPACE-db-admin" wait externalsecret/database-setup --for=condition=Ready --timeout=180s
  kubectl -n "$NAMESPACE-db-admin" wait job/database-setup --for=condition=Complete --timeout=600s ||
    { kubectl -n "$NAMESPACE-db-admin" logs job/database-setup --tail=50 >&2; return 1; }
}
step "database roles (setup Job)" database_setup

database_secret() {
  kubectl apply -f "$WORK/database-secret.yaml"
  kubectl -n "$NAMESPACE" wait externalsecret/shipshape-database externalsecret/shipshape-database-owner \
    --for=condition=Ready --timeout=180s
}
step "database ExternalSecrets Ready" database_secret
finish
