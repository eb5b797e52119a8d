# shellcheck shell=bash
# Shared by the pipeline's scripts (pipeline-check, coverage, deny, secret-scan, policy, image,
# release-binary, publish, deploy-*, smoke, load, tf-*): named, timed steps; clear failures when an
# input is missing; root-or-sudo package installs. Source it from the repo root: the caller has
# `set -euo pipefail` and has cd'ed there.

SHIPSHAPE_SCRIPT="$(basename "${0}")"
SHIPSHAPE_T0=$(date +%s)
SHIPSHAPE_STEP=""

SHIPSHAPE_CLEANUP=()

# on_exit CMD: run CMD (a string) when the script ends, however it ends. Scripts use this, not `trap`.
on_exit() {
  SHIPSHAPE_CLEANUP+=("$1")
}

_shipshape_exit() {
  local rc=$? c
  for c in "${SHIPSHAPE_CLEANUP[@]}"; do
    eval "$c" || true
  done
  # Any failure names the step it happened in (set -e exits through here).
  if [ $rc -ne 0 ]; then
    echo "${SHIPSHAPE_SCRIPT}: FAILED in step: ${SHIPSHAPE_STEP:-setup} (exit $rc)" >&2
  fi
  exit $rc
}
trap _shipshape_exit EXIT

die() {
  echo "${SHIPSHAPE_SCRIPT}: $*" >&2
  exit 1
}

# step NAME CMD...: run CMD as a named step and print its duration. CMD runs under the caller's
# `set -e` (so a failing command inside a function stops it) in this shell (so exports persist); on
# failure the EXIT trap names the step.
step() {
  local name="$1" t0
  shift
  SHIPSHAPE_STEP="$name"
  echo "==> ${name}"
  t0=$(date +%s)
  "$@"
  echo "<== ${name}: ok ($(($(date +%s) - t0)) s)"
}

finish() {
  SHIPSHAPE_STEP=""
  echo "${SHIPSHAPE_SCRIPT}: all steps passed in $(($(date +%s) - SHIPSHAPE_T0)) s"
}

# require_env VAR...: the cloud scripts never guess; a missing input stops them before anything happens.
require_env() {
  local missing=() v
  for v in "$@"; do
    [ -n "${!v:-}" ] || missing+=("$v")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing required environment: ${missing[*]} (see docs/pipeline.md, 'Contexts')"
}

require_cmd() {
  local missing=() c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (the CircleCI executor provides them; docs/pipeline.md)"
}

# need_pkgs PKG...: Debian packages, as root directly or through sudo (CircleCI's cimg/* run as a user).
need_pkgs() {
  if [ "$(id -u)" -eq 0 ]; then
    # shellcheck source=scripts/lib/apt.sh
    source scripts/lib/apt.sh
    need_apt "$@"
  else
    sudo -E bash -c 'source scripts/lib/apt.sh && need_apt "$@"' need_pkgs "$@"
  fi
}

# The project's Python tool venv (tools/python/*.txt), with python3 + venv present even on a bare Debian.
use_venv() {
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    need_pkgs python3 python3-venv
  fi
  # shellcheck source=scripts/lib/venv.sh
  source scripts/lib/venv.sh
}

# Short commit id: the image tag, the release key, the chart's version suffix.
git_short_sha() {
  local sha="${CIRCLE_SHA1:-${GITHUB_SHA:-}}"
  [ -n "$sha" ] || sha="$(git rev-parse HEAD)"
  echo "${sha:0:12}"
}

crate_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

# tf_init DIR: init a stack against its cloud's bootstrap state bucket (key/prefix and locking are in the
# stack's own backend.tf; bucket, region and KMS key come from the environment, never from Git).
tf_init() {
  case "$1" in
    infra/gcp/*)
      terraform -chdir="$1" init -input=false -no-color -backend-config="bucket=${GCP_STATE_BUCKET}"
      ;;
    *)
      terraform -chdir="$1" init -input=false -no-color \
        -backend-config="bucket=${TF_STATE_BUCKET}" \
        -backend-config="region=${AWS_REGION}" \
        -backend-config="encrypt=true" \
        -backend-config="kms_key_id=${TF_STATE_KMS_KEY_ARN}"
      ;;
  esac
}

# stack_cloud gcp/vm -> gcp; every other stack is an AWS one.
stack_cloud() {
  case "$1" in
    gcp/*) echo gcp ;;
    *) echo aws ;;
  esac
}

# gcp_auth VAR: Google credentials for Terraform and gcloud in this shell, as the service account whose
# email is in the environment variable VAR (GCP_PLAN_SERVICE_ACCOUNT, ...).
# In CircleCI: workload identity federation, no key. The job's OIDC token ($CIRCLE_OIDC_TOKEN, whose sub
# fits the pool's google.subject) goes to a private file, and an "external_account" credential
# configuration (https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines)
# tells Google's client libraries and gcloud to exchange it at $GCP_WORKLOAD_IDENTITY_PROVIDER and
# impersonate that account. Which accounts a token may impersonate is decided by Google Cloud
# (infra/gcp/bootstrap/wif.tf), not here. The token lives one hour from the job's start.
# Elsewhere (a laptop): the ambient credentials (gcloud auth application-default login) are used as they are.
gcp_auth() {
  local var="$1" sa dir
  if [ -z "${CIRCLE_OIDC_TOKEN:-}" ]; then
    if [ -n "${CIRCLECI:-}" ]; then
      die "no CIRCLE_OIDC_TOKEN: CircleCI issues one only to jobs that run in a context (docs/pipeline.md, 'Contexts')"
    fi
    echo "gcp: no CIRCLE_OIDC_TOKEN; using the ambient Google credentials"
    return 0
  fi
  require_env GCP_WORKLOAD_IDENTITY_PROVIDER "$var"
  sa="${!var}"
  ensure_python3
  dir="$(mktemp -d)"
  chmod 700 "$dir"
  on_exit "rm -rf '$dir'"
  (umask 077 && printf '%s' "$CIRCLE_OIDC_TOKEN" >"$dir/oidc-token")
  python3 - "$dir" "$GCP_WORKLOAD_IDENTITY_PROVIDER" "$sa" <<'PY'
import json, os, sys
d, provider, sa = sys.argv[1:4]
config = {
    "type": "external_account",
    "audience": "//iam.googleapis.com/" + provider,
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": "https://sts.googleapis.com/v1/token",
    "service_account_impersonation_url":
        f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{sa}:generateAccessToken",
    "credential_source": {"file": os.path.join(d, "oidc-token"), "format": {"type": "text"}},
}
with open(os.path.join(d, "credentials.json"), "w", opener=lambda p, f: os.open(p, f, 0o600)) as fh:
    json.dump(config, fh, indent=2)
PY
  export GOOGLE_APPLICATION_CREDENTIALS="$dir/credentials.json"
  export CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE="$dir/credentials.json"
  echo "gcp: workload identity federation through ${GCP_WORKLOAD_IDENTITY_PROVIDER} as ${sa}"
}

# stack_slug aws/vm -> aws-vm
stack_slug() {
  echo "${1//\//-}"
}

# tf_output DIR -raw|-json NAME: read a stack output from its remote state (init once per DIR).
SHIPSHAPE_TF_INITED=" "
tf_output() {
  local dir="$1" mode="$2" name="$3"
  case "$SHIPSHAPE_TF_INITED" in
    *" $dir "*) ;;
    *)
      tf_init "$dir" >/dev/null
      SHIPSHAPE_TF_INITED="$SHIPSHAPE_TF_INITED$dir "
      ;;
  esac
  terraform -chdir="$dir" output -no-color "$mode" "$name"
}

# The cloud scripts parse JSON with python3; slim CI images may lack it.
ensure_python3() {
  command -v python3 >/dev/null 2>&1 || need_pkgs python3
}

# start_test_postgres: scripts/pg-start.sh (local PostgreSQL with TLS and its own CA) and export the
# TEST_DATABASE_URL / TEST_DATABASE_CA it prints, for the tests' PostgreSQL half.
start_test_postgres() {
  local vars line
  vars="$(scripts/pg-start.sh)"
  while IFS= read -r line; do
    case "$line" in
      TEST_DATABASE_URL=* | TEST_DATABASE_CA=*) export "${line?}" ;;
    esac
  done <<<"$vars"
  require_env TEST_DATABASE_URL TEST_DATABASE_CA
  echo "PostgreSQL up; TEST_DATABASE_CA=$TEST_DATABASE_CA"
}
