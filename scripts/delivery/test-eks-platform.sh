#!/usr/bin/env bash
# Exercises scripts/eks-platform.sh's database logins against stand-in `aws`, `terraform`, `kubectl`, `helm`
# and `curl` (no cloud here; the Secrets Manager secrets and the CloudFormation stack are files). Proves:
#   the logins' first values are written before the setup Job runs, in the structure AWS's rotation
#   function expects (the stack's connection fields, the login's username, a generated password that
#   never reaches the log), and only where a secret has no value; the rotation template is deployed
#   with exactly the parameters of the stack's db_logins output, after the setup Job, and rotation is
#   turned on for both logins with the stack's schedule; a second run changes nothing; a new template
#   version is deployed again.
# Called by scripts/pipeline-check.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/repo" "$WORK/state/secrets" "$WORK/state/stacks"
cp -r scripts "$WORK/repo/"
APP=arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/app-AbCdEf
OWNER=arn:aws:secretsmanager:us-east-1:123456789012:secret:shipshape/database/owner-GhIjKl
FN=arn:aws:lambda:us-east-1:123456789012:function:shipshape-db-rotation
logins() { # logins VERSION
  cat <<JSON
{"secrets": {"app": {"arn": "$APP", "username": "shipshape_app"}, "owner": {"arn": "$OWNER", "username": "shipshape_owner"}},
 "connection": {"engine": "postgres", "host": "db.example.internal", "port": 5432, "dbname": "shipshape",
                "masterarn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123"},
 "rotation": {"application_id": "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationMultiUser",
              "semantic_version": "$1", "stack_name": "shipshape-db-rotation", "function_name": "shipshape-db-rotation", "days": 30,
              "parameters": {"functionName": "shipshape-db-rotation", "endpoint": "https://secretsmanager.us-east-1.amazonaws.com",
                             "vpcSubnetIds": "subnet-a,subnet-b,subnet-c", "vpcSecurityGroupIds": "sg-rotation",
                             "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k", "masterSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123",
                             "masterSecretKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}}}
JSON
}
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=stand-in RDS CA" -keyout /dev/null -out "$WORK/ca.pem" 2>/dev/null

cat >"$WORK/bin/terraform" <<'SH'
#!/usr/bin/env bash
case "$*" in
  *" init "*) exit 0 ;;
  *"output -no-color -raw cluster_name"*) printf shipshape ;;
  *"-json db_ca_bundle"*) echo '{"namespace":"shipshape","configMapName":"rds-ca-bundle","key":"ca.pem"}' ;;
  *"-json controllers"*) echo '{"external_secrets":{"namespace":"external-secrets"},"external_dns":{"namespace":"external-dns"}}' ;;
  *"-json controller_helm_values"*) echo '{"external_secrets":"a: 1\n","external_dns":"b: 2\n"}' ;;
  *"-raw platform_manifests"* | *"-raw database_secret_manifests"* | *"-raw database_setup_manifests"*) echo "kind: ConfigMap" ;;
  *"-json db_logins"*) cat "$STUB_LOGINS" ;;
  *) echo "unexpected terraform $*" >&2; exit 9 ;;
esac
SH
cat >"$WORK/bin/kubectl" <<'SH'
#!/usr/bin/env bash
echo "kubectl $*" >>"$STUB_LOG"
case "$1" in create) echo "kind: ConfigMap" ;; esac
SH
cat >"$WORK/bin/helm" <<'SH'
#!/usr/bin/env bash
echo "helm $*" >>"$STUB_LOG"
SH
cat >"$WORK/bin/curl" <<SH
#!/usr/bin/env bash
while [ \$# -gt 0 ]; do [ "\$1" = -o ] && cp "$WORK/ca.pem" "\$2"; shift; done
SH
cat >"$WORK/bin/aws" <<'SH'
#!/usr/bin/env bash
echo "aws $*" >>"$STUB_LOG"
arg() { local want="$1"; shift; while [ $# -gt 0 ]; do [ "$1" = "$want" ] && { echo "$2"; return; }; shift; done; }
S="$STUB_STATE"
key() { echo "$1" | sed 's/[^A-Za-z0-9]/_/g'; }
case "$1 $2" in
  "eks update-kubeconfig") ;;
  "secretsmanager describe-secret")
    f="$S/secrets/$(key "$(arg --secret-id "$@")")"
    case "$(arg --query "$@")" in
      VersionIdsToStages) if [ -f "$f.value" ]; then echo '{"v1": ["AWSCURRENT"]}'; else echo '{}'; fi ;;
      *RotationEnabled*) if [ -f "$f.rotation" ]; then printf 'True\t%s\n' "$(cat "$f.rotation")"; else printf 'None\tNone\tNone\n'; fi ;;
    esac ;;
  "secretsmanager get-random-password") echo "Generated0Password0NotLogged" ;;
  "secretsmanager put-secret-value")
    v="$(arg --secret-string "$@")"; cp "${v#file://}" "$S/secrets/$(key "$(arg --secret-id "$@")").value" ;;
  "secretsmanager rotate-secret")
    printf '%s\t%s\n' "$(arg --rotation-lambda-arn "$@")" "$(arg --rotation-rules "$@" | sed 's/AutomaticallyAfterDays=//')" \
      >"$S/secrets/$(key "$(arg --secret-id "$@")").rotation" ;;
  "cloudformation describe-stacks")
    name="$(arg --stack-name "$@")"
    if [ "$name" = stack-id ]; then if [ -f "$S/stacks/deployed" ]; then echo UPDATE_COMPLETE; else echo REVIEW_IN_PROGRESS; fi
    elif [ -f "$S/stacks/deployed" ] && [ "$name" = serverlessrepo-shipshape-db-rotation ]; then printf 'CREATE_COMPLETE\t%s\n' "$(cat "$S/stacks/deployed")"
    else echo "Stack $name does not exist" >&2; exit 254; fi ;;
  "serverlessrepo create-cloud-formation-change-set")
    p="$(arg --parameter-overrides "$@")"; cp "${p#file://}" "$S/stacks/parameters.json"
    arg --semantic-version "$@" >"$S/stacks/pending"; printf 'change-set-id\tstack-id\n' ;;
  "cloudformation wait") ;;
  "cloudformation execute-change-set") mv "$S/stacks/pending" "$S/stacks/deployed" ;;
  "lambda get-function") echo "$STUB_FN" ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac
SH
chmod +x "$WORK/bin/"*

run() { # run TEMPLATE_VERSION
  logins "$1" >"$WORK/logins.json"
  : >"$WORK/log"
  (cd "$WORK/repo" && env PATH="$WORK/bin:$PATH" STUB_LOG="$WORK/log" STUB_STATE="$WORK/state" STUB_LOGINS="$WORK/logins.json" \
    STUB_FN="$FN" AWS_REGION=us-east-1 TF_STATE_BUCKET=state TF_STATE_KMS_KEY_ARN=arn:aws:kms:us-east-1:123456789012:key/x \
    bash scripts/eks-platform.sh) >"$WORK/out.txt" 2>&1
}
fail() {
  echo "test-eks-platform: $*" >&2
  cat "$WORK/out.txt" >&2
  exit 1
}
stored() { echo "$WORK/state/secrets/${1//[^A-Za-z0-9]/_}"; } # where the stand-in keeps a secret
value() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$(stored "$1").value"; }
line() { grep -n -m1 -- "$1" "$WORK/log" | cut -d: -f1; }

# 1. first run: values, setup Job, template, rotation, in that order
run 1.1.618 || fail "the first run failed"
while read -r arn user; do
  want="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(dict(d["connection"], username=sys.argv[2], password="Generated0Password0NotLogged"), sort_keys=True))' "$WORK/logins.json" "$user")"
  [ "$(value "$arn")" = "$want" ] || fail "secret $arn holds $(value "$arn"), want $want"
done <<<"$APP shipshape_app
$OWNER shipshape_owner"
! grep -q Generated0Password0NotLogged "$WORK/out.txt" "$WORK/log" || fail "the generated password reached the log"
[ "$(line 'put-secret-value')" -lt "$(line 'delete job database-setup')" ] || fail "the setup Job ran before the logins had values"
[ "$(line 'create-cloud-formation-change-set')" -gt "$(line 'wait job/database-setup')" ] || fail "rotation deployed before the setup Job created the logins"
python3 - "$WORK/logins.json" "$WORK/state/stacks/parameters.json" <<'PY' || fail "the template's parameters are not the stack's db_logins output"
import json, sys
want = json.load(open(sys.argv[1]))["rotation"]["parameters"]
got = {p["Name"]: p["Value"] for p in json.load(open(sys.argv[2]))}
sys.exit(0 if got == want else 1)
PY
for arn in "$APP" "$OWNER"; do
  [ "$(cat "$(stored "$arn").rotation")" = "$FN	30" ] || fail "rotation of $arn is not the function every 30 days"
done
echo "test-eks-platform: first run: values before the setup Job, template with the stack's parameters, rotation on"

# 2. a second run changes nothing
run 1.1.618 || fail "the second run failed"
for call in put-secret-value create-cloud-formation-change-set execute-change-set rotate-secret get-random-password; do
  ! grep -q "$call" "$WORK/log" || fail "a re-run called $call"
done
echo "test-eks-platform: second run: nothing rewritten, nothing redeployed"

# 3. a new template version is deployed (an update of the stack), nothing else changes
run 1.1.700 || fail "the run with a new template version failed"
grep -q "create-cloud-formation-change-set.*--semantic-version 1.1.700" "$WORK/log" || fail "the new template version was not deployed"
! grep -q "put-secret-value\|rotate-secret" "$WORK/log" || fail "a template update touched the secrets"
echo "test-eks-platform: new template version deployed, secrets untouched"
echo "test-eks-platform: 3 passed, 0 failed"
