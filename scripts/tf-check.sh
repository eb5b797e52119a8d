#!/usr/bin/env bash
# tf-check: every Terraform root stack (infra/<cloud>/<stack>/) is formatted, valid against the real
# provider schemas, plans with its example variables, passes the HCL tests (tests/infra/) and passes
# checkov with no failure other than skips documented next to the resource.
#
# Offline here: validate/plan use shared/tools/tf-offline (a sibling of the repo, or $TF_OFFLINE_DIR).
# Where that tool is absent (CircleCI, which has the registry), validate falls back to
# `terraform init -backend=false && terraform validate`, and the offline plan is left to the
# pipeline's real `terraform plan` (scripts/tf-plan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

declare -a SUMMARY=()
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { # step NAME CMD...: run, time, record; the first failure names itself and stops the script.
  local name="$1" t0 rc dt
  shift
  echo "==> $name"
  t0=$(date +%s.%N)
  # A subshell outside any `||`, so `set -e` really applies inside the step's functions.
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  dt=$(elapsed "$t0")
  if [ "$rc" -ne 0 ]; then
    SUMMARY+=("FAIL  ${dt}s  $name")
    print_summary
    echo "tf-check: FAILED at step '$name' (exit $rc)" >&2
    exit 1
  fi
  SUMMARY+=("ok    ${dt}s  $name")
  echo "<== $name: ok (${dt}s)"
}
print_summary() {
  echo
  echo "---- tf-check summary ----"
  printf '%s\n' "${SUMMARY[@]}"
  [ -s "$WORK/facts" ] && cat "$WORK/facts"
  return 0
}
fact() { echo "$*" | tee -a "$WORK/facts"; }

# ---- tools (in this shell: the venv's PATH must outlive the step) --------------------------------
echo "==> setup (apt, python venv, terraform)"
T0=$(date +%s.%N)
need_apt shellcheck git ca-certificates
python3 -c 'import ensurepip' 2>/dev/null || need_apt python3-venv
if ! command -v terraform >/dev/null; then
  echo "tf-check: FAILED at step 'setup': terraform is not installed (the machine image and CircleCI's job provide it)" >&2
  exit 1
fi
# A CLI config path that points nowhere only produces warnings; drop it.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
# shellcheck source=scripts/lib/venv.sh
source scripts/lib/venv.sh
terraform version | sed -n 1p
echo "checkov $(checkov --version)"
pytest --version
SUMMARY+=("ok    $(elapsed "$T0")s  setup (apt, python venv, terraform)")

mapfile -t STACKS < <(for d in infra/*/*/; do ls "$d"*.tf >/dev/null 2>&1 && echo "${d%/}"; done)
[ "${#STACKS[@]}" -gt 0 ] || { echo "no Terraform stacks under infra/*/*/" >&2; exit 1; }
fact "stacks: ${STACKS[*]}"

TF_OFFLINE_DIR="${TF_OFFLINE_DIR:-$(git rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")/../shared/tools/tf-offline}"
OFFLINE=""
[ -x "$TF_OFFLINE_DIR/tf-validate-offline" ] && OFFLINE="$(cd "$TF_OFFLINE_DIR" && pwd)"

# ---- 1. format ---------------------------------------------------------------------------------
step "terraform fmt -check -recursive infra" terraform fmt -check -recursive -diff infra

# ---- 2. validate -------------------------------------------------------------------------------
validate() {
  if [ -n "$OFFLINE" ]; then
    echo "offline validate with $OFFLINE"
    "$OFFLINE/tf-validate-offline" "${STACKS[@]}"
  else
    local d
    echo "no tf-offline at $TF_OFFLINE_DIR: terraform init -backend=false + validate"
    for d in "${STACKS[@]}"; do
      TF_DATA_DIR="$WORK/tfdata-${d//\//-}" terraform -chdir="$d" init -backend=false -input=false -no-color >/dev/null
      TF_DATA_DIR="$WORK/tfdata-${d//\//-}" terraform -chdir="$d" validate -no-color
    done
  fi
}
step "terraform validate (${#STACKS[@]} stacks)" validate

# ---- 3. offline plan with each stack's *.tfvars.example ----------------------------------------
plan() {
  local d ex n
  if [ -z "$OFFLINE" ]; then
    echo "no tf-offline: real plans run in the pipeline (scripts/tf-plan.sh)"
    fact "plans: not run here (no tf-offline)"
    return 0
  fi
  for d in "${STACKS[@]}"; do
    for ex in "$d"/*.tfvars.example; do
      [ -e "$ex" ] || continue
      if ! "$OFFLINE/tf-plan-offline" "$d" -- -no-color -var-file="$(basename "$ex")" >"$WORK/plan.log" 2>&1; then
        cat "$WORK/plan.log" >&2
        echo "plan of $d with $(basename "$ex") failed" >&2
        return 1
      fi
      n="$(grep -Eo '^Plan: [0-9]+ to add' "$WORK/plan.log" | grep -Eo '[0-9]+' || echo 0)"
      fact "plan: $d with $(basename "$ex"): $n resources to add"
    done
  done
}
step "terraform plan (offline, *.tfvars.example)" plan

# ---- 4. HCL tests ------------------------------------------------------------------------------
step "pytest tests/infra" pytest -q -p no:cacheprovider tests/infra

# ---- 5. checkov ----------------------------------------------------------------------------------
policy() {
  local d rc=0
  for d in "${STACKS[@]}"; do
    # No network: no guideline download, no Prisma mapping. Skips are only the inline ones in the code.
    BC_SKIP_MAPPING=TRUE checkov -d "$d" --framework terraform --skip-download --quiet -o json \
      >"$WORK/checkov.json" 2>"$WORK/checkov.err" || true
    if ! python3 - "$d" "$WORK/checkov.json" "$WORK/facts" <<'PY'; then
import json, sys
stack, path, facts = sys.argv[1:4]
try:
    doc = json.load(open(path))
except ValueError:
    sys.exit(f"checkov produced no JSON for {stack}")
doc = doc[0] if isinstance(doc, list) else doc
if "results" not in doc:  # a stack with no resources checkov knows
    sys.exit(f"checkov scanned nothing in {stack}: {doc}")
res, summ = doc["results"], doc["summary"]
bad = False
for c in res.get("failed_checks", []):
    print(f"FAILED {c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}) {c['check_name']}")
    bad = True
for c in res.get("skipped_checks", []):
    reason = (c.get("check_result") or {}).get("suppress_comment", "").strip()
    if not reason or reason == "No comment provided":
        print(f"UNDOCUMENTED SKIP {c['check_id']} {c['resource']} ({c['file_path']}): add ':reason'")
        bad = True
if summ.get("parsing_errors"):
    print(f"{stack}: {summ['parsing_errors']} parsing errors")
    bad = True
line = f"checkov: {stack}: passed={summ['passed']} failed={summ['failed']} skipped={summ['skipped']}"
print(line)
open(facts, "a").write(line + "\n")
sys.exit(1 if bad else 0)
PY
      # Every stack is scanned before the step fails.
      tail -n 20 "$WORK/checkov.err" >&2
      rc=1
    fi
  done
  return "$rc"
}
step "checkov (every stack, zero failures)" policy

print_summary
echo "tf-check: all steps passed"
