#!/usr/bin/env bash
# eks-platform: the cluster-level layer between `terraform apply` of infra/aws/eks and the app
# (infra/aws/eks/README.md "Apply order", steps 3-4). Run by the platform admin role after the stack's
# first apply and after controller/version changes; the pipeline's deploy role cannot (its access entry
# is limited to the app namespace, on purpose).
#   platform manifests -> RDS CA bundle ConfigMaps -> External Secrets Operator + ExternalDNS (pinned
#   chart versions) -> the logins' first secret values (only where none exists) -> database role
#   setup Job (master credentials, own namespace), waited for ->
#   the app's and the migrations' ExternalSecrets, waited for Ready -> rotation of the app and owner
#   logins (AWS's rotation template from the Serverless Application Repository, output db_logins):
#   the pipeline's apply role cannot deploy it, because the template creates its own unbounded Lambda
#   role (infra/aws/eks roles.tf); the platform administrator's role can.
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
  tf_output "$STACK" -json db_logins >"$WORK/logins.json"
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

# Each login secret's first value: a password from Secrets Manager in the structure AWS's rotation function
# expects. Only where the secret has no current value, so a re-run never undoes a rotation; Terraform
# never sees it (infra/aws/eks roles.tf).
login_secrets() {
  local key arn user
  for key in $(jq_py "$WORK/logins.json" '" ".join(sorted(d["secrets"]))'); do
    arn="$(jq_py "$WORK/logins.json" "d['secrets']['$key']['arn']")"
    user="$(jq_py "$WORK/logins.json" "d['secrets']['$key']['username']")"
    if aws secretsmanager describe-secret --region "$AWS_REGION" --secret-id "$arn" \
      --query 'VersionIdsToStages' --output json | grep -q AWSCURRENT; then
      echo "login $user: $arn has a value (kept)"
      continue
    fi
    # URL-safe (the password goes into a postgres:// URL); the value goes to the file, never to the log.
    (umask 077 && aws secretsmanager get-random-password --region "$AWS_REGION" --password-length 40 \
      --exclude-punctuation --require-each-included-type --query RandomPassword --output text >"$WORK/password")
    (umask 077 && python3 - "$WORK/logins.json" "$user" "$WORK/password" >"$WORK/login.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(dict(d["connection"], username=sys.argv[2], password=open(sys.argv[3]).read().strip())))
PY
    )
    aws secretsmanager put-secret-value --region "$AWS_REGION" --secret-id "$arn" \
      --secret-string "file://$WORK/login.json" >/dev/null
    rm -f "$WORK/password" "$WORK/login.json"
    echo "login $user: first value written to $arn"
  done
}
step "login secrets (first values)" login_secrets

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

# Alternating-users rotation of the two logins, after the setup Job created them (a rotation of a login
# that does not exist yet fails). Re-runnable: the template is deployed again only for a new version,
# and rotation is (re)configured only where it is off or names another function.
rotation() {
  local app version name stack_id change_set status fn_arn secret current days
  app="$(jq_py "$WORK/logins.json" 'd["rotation"]["application_id"]')"
  version="$(jq_py "$WORK/logins.json" 'd["rotation"]["semantic_version"]')"
  name="$(jq_py "$WORK/logins.json" 'd["rotation"]["stack_name"]')"
  days="$(jq_py "$WORK/logins.json" 'd["rotation"]["days"]')"
  # The Serverless Application Repository names the CloudFormation stack serverlessrepo-<name>.
  current="$(aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "serverlessrepo-$name" \
    --query "Stacks[0].[StackStatus, Tags[?Key=='serverlessrepo:semanticVersion'].Value | [0]]" --output text 2>/dev/null || true)"
  if [[ "$current" =~ ^(CREATE|UPDATE)_COMPLETE[[:space:]]+"$version"$ ]]; then
    echo "rotation function: serverlessrepo-$name is at $version"
  else
    echo "rotation function: deploying $app $version (was: ${current:-none})"
    python3 - "$WORK/logins.json" >"$WORK/rotation-params.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["rotation"]
print(json.dumps([{"Name": k, "Value": v} for k, v in sorted(d["parameters"].items())]))
PY
    read -r change_set stack_id < <(aws serverlessrepo create-cloud-formation-change-set --region "$AWS_REGION" \
      --application-id "$app" --semantic-version "$version" --stack-name "$name" \
      --capabilities CAPABILITY_IAM CAPABILITY_RESOURCE_POLICY \
      --parameter-overrides "file://$WORK/rotation-params.json" --query '[ChangeSetId, StackId]' --output text)
    aws cloudformation wait change-set-create-complete --region "$AWS_REGION" --change-set-name "$change_set" ||
      { aws cloudformation describe-change-set --region "$AWS_REGION" --change-set-name "$change_set" \
          --query StatusReason --output text >&2; return 1; }
    status="$(aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$stack_id" --query 'Stacks[0].StackStatus' --output text)"
    aws cloudformation execute-change-set --region "$AWS_REGION" --change-set-name "$change_set"
    if [ "$status" = REVIEW_IN_PROGRESS ]; then
      aws cloudformation wait stack-create-complete --region "$AWS_REGION" --stack-name "$stack_id"
    else
      aws cloudformation wait stack-update-complete --region "$AWS_REGION" --stack-name "$stack_id"
    fi
  fi
  fn_arn="$(aws lambda get-function --region "$AWS_REGION" --function-name "$(jq_py "$WORK/logins.json" 'd["rotation"]["function_name"]')" \
    --query Configuration.FunctionArn --output text)"
  for secret in $(jq_py "$WORK/logins.json" '" ".join(d["secrets"][k]["arn"] for k in sorted(d["secrets"]))'); do
    current="$(aws secretsmanager describe-secret --region "$AWS_REGION" --secret-id "$secret" \
      --query '[RotationEnabled, RotationLambdaARN, RotationRules.AutomaticallyAfterDays]' --output text)"
    if [ "$current" = "True	$fn_arn	$days" ]; then
      echo "rotation: $secret every $days days (unchanged)"
      continue
    fi
    # The first rotation runs now (alternating users: it creates <login>_clone with a new password).
    aws secretsmanager rotate-secret --region "$AWS_REGION" --secret-id "$secret" \
      --rotation-lambda-arn "$fn_arn" --rotation-rules "AutomaticallyAfterDays=$days" >/dev/null
    echo "rotation: $secret every $days days, first rotation started"
  done
}
step "login rotation (administrator: rotation function + schedules)" rotation
finish
