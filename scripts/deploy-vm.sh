#!/usr/bin/env bash
# deploy-vm (main only): ship the release binary to the VM path the way infra/aws/vm chose (its README
# "Deploy"): the stack's SSM Command document installs a URL + sha256 in place on every instance of the
# deploy group, checks /readyz and restores the previous binary by itself if the new one is not ready.
#   1. upload out/release/shipshape + shipshape.sha256 to s3://$RELEASE_BUCKET/${RELEASE_PREFIX}<sha>/
#      (or, with DEPLOY_VM_RELEASE=<sha>, reuse a release already there: redeploy / roll back)
#   2. aws ssm send-command of the stack's `deploy.ssm_document` to tag DeployGroup=<group>, one
#      instance at a time, no errors tolerated; wait for every invocation
#   3. record the release in ${RELEASE_PREFIX}current.json (previous one -> previous.json); tf-plan
#      feeds it to the stack's binary_url/binary_sha256, so Terraform converges on the same release
#   4. scripts/smoke.sh against the stack's `url`
# Inputs: AWS_REGION, RELEASE_BUCKET, RELEASE_PREFIX, TF_STATE_BUCKET, TF_STATE_KMS_KEY_ARN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh

require_env AWS_REGION RELEASE_BUCKET RELEASE_PREFIX TF_STATE_BUCKET TF_STATE_KMS_KEY_ARN
require_cmd aws terraform sha256sum openssl
ensure_python3
STACK=infra/aws/vm
OUT=out/deploy-vm
mkdir -p "$OUT"
WORK="$(mktemp -d)"
on_exit "rm -rf '$WORK'"
TIMEOUT_SECS="${DEPLOY_VM_TIMEOUT_SECS:-1200}"
POLL_SECS="${DEPLOY_VM_POLL_SECS:-10}"

s3key() { echo "${RELEASE_PREFIX}$1/shipshape"; }

upload() {
  local key want existing
  if [ -n "${DEPLOY_VM_RELEASE:-}" ]; then
    SHA="$DEPLOY_VM_RELEASE"
    key="$(s3key "$SHA")"
    aws s3 cp --quiet "s3://$RELEASE_BUCKET/$key.sha256" "$WORK/shipshape.sha256" ||
      die "release $SHA is not in s3://$RELEASE_BUCKET/$key (.sha256 missing)"
    SHA256="$(cut -d' ' -f1 "$WORK/shipshape.sha256")"
    echo "redeploying existing release $SHA ($SHA256)"
    return 0
  fi
  [ -x out/release/shipshape ] && [ -f out/release/shipshape.sha256 ] ||
    die "no out/release/shipshape(.sha256): attach the release-binary job's workspace"
  (cd out/release && sha256sum --check --quiet shipshape.sha256) || die "out/release/shipshape does not match its sha256"
  SHA="$(git_short_sha)"
  SHA256="$(cut -d' ' -f1 out/release/shipshape.sha256)"
  key="$(s3key "$SHA")"
  existing="$(aws s3api head-object --bucket "$RELEASE_BUCKET" --key "$key" \
    --query 'Metadata.sha256' --output text 2>/dev/null || true)"
  if [ -n "$existing" ] && [ "$existing" != None ]; then
    [ "$existing" = "$SHA256" ] || die "s3://$RELEASE_BUCKET/$key exists with sha256 $existing, not $SHA256"
    echo "release $SHA already uploaded"
    return 0
  fi
  want="$(openssl dgst -sha256 -binary out/release/shipshape | base64)"
  # --checksum-sha256: S3 itself rejects the upload if the bytes arrive different.
  aws s3api put-object --bucket "$RELEASE_BUCKET" --key "$key" --body out/release/shipshape \
    --checksum-sha256 "$want" --metadata "sha256=$SHA256" --content-type application/octet-stream >/dev/null
  aws s3api put-object --bucket "$RELEASE_BUCKET" --key "$key.sha256" --body out/release/shipshape.sha256 \
    --content-type text/plain >/dev/null
  echo "uploaded s3://$RELEASE_BUCKET/$key ($SHA256)"
}
step "upload release binary + sha256" upload
URL="https://${RELEASE_BUCKET}.s3.${AWS_REGION}.amazonaws.com/$(s3key "$SHA")"

read_stack() {
  tf_output "$STACK" -json deploy >"$WORK/deploy.json"
  VM_URL="$(tf_output "$STACK" -raw url)"
  cat "$WORK/deploy.json"
  echo
}
step "read infra/aws/vm outputs" read_stack
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/deploy.json" "$1"; }

rollout() {
  local params cmd_id deadline status
  params="$(python3 -c 'import json,sys; print(json.dumps({"action":["deploy"],"binaryUrl":[sys.argv[1]],"binarySha256":[sys.argv[2]]}))' "$URL" "$SHA256")"
  cmd_id="$(aws ssm send-command --region "$AWS_REGION" --document-name "$(field ssm_document)" \
    --targets "Key=tag:$(field target_tag_key),Values=$(field target_tag_value)" \
    --parameters "$params" --max-concurrency 1 --max-errors 0 --timeout-seconds 900 \
    --comment "shipshape $SHA" --query Command.CommandId --output text)"
  echo "SSM command $cmd_id"
  deadline=$(($(date +%s) + TIMEOUT_SECS))
  while :; do
    status="$(aws ssm list-commands --region "$AWS_REGION" --command-id "$cmd_id" \
      --query 'Commands[0].[Status,TargetCount,CompletedCount,ErrorCount]' --output text)"
    echo "  $status"
    case "$status" in
      Success*) break ;;
      Pending* | InProgress* | Delayed*) ;;
      *)
        aws ssm list-command-invocations --region "$AWS_REGION" --command-id "$cmd_id" --details \
          --query 'CommandInvocations[].[InstanceId,Status,CommandPlugins[0].Output]' --output text >&2 || true
        die "rollout failed: $status (each failed instance restored its previous binary)"
        ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "rollout did not finish within ${TIMEOUT_SECS} s"
    sleep "$POLL_SECS"
  done
  [ "$(echo "$status" | awk '{print $2}')" -ge 1 ] || die "the command reached no instance (tag $(field target_tag_key)=$(field target_tag_value))"
  aws ssm list-command-invocations --region "$AWS_REGION" --command-id "$cmd_id" \
    --query 'CommandInvocations[].[InstanceId,Status]' --output text | tee "$OUT/invocations.txt"
}
step "SSM rollout of $SHA ($(field mode) stack)" rollout

record() {
  aws s3 cp --quiet "s3://$RELEASE_BUCKET/${RELEASE_PREFIX}current.json" "$WORK/previous.json" 2>/dev/null &&
    aws s3 cp --quiet "$WORK/previous.json" "s3://$RELEASE_BUCKET/${RELEASE_PREFIX}previous.json"
  python3 -c 'import json,sys,datetime; print(json.dumps({"sha":sys.argv[1],"url":sys.argv[2],"sha256":sys.argv[3],"deployed_at":datetime.datetime.now(datetime.timezone.utc).isoformat()}))' \
    "$SHA" "$URL" "$SHA256" >"$OUT/current.json"
  aws s3 cp --quiet "$OUT/current.json" "s3://$RELEASE_BUCKET/${RELEASE_PREFIX}current.json"
  cat "$OUT/current.json"
}
step "record current release" record

BASE_URL="${VM_URL%/hello}" step "smoke ${VM_URL%/hello}" scripts/smoke.sh
finish
