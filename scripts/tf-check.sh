#!/usr/bin/env bash
# tf-check: every Terraform root stack (infra/<cloud>/<stack>/) and shared module (infra/modules/<name>/)
# is formatted, valid against the provider schemas, passes its `terraform test` suite (planned values
# with mock providers: tests/*.tftest.hcl next to the code), passes the Python probes and mutation
# tests (tests/infra/), and passes checkov with no failure other than skips documented in the code.
#
# Providers: the real ones from the registry (any runner with network), or the offline accelerator's
# schema-only ones when TF_OFFLINE_DIR is set (.ci/run sets it where one exists). Same commands, same
# assertions: scripts/lib/tfrun.py.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/delivery/lib.sh
source scripts/delivery/lib.sh
# shellcheck source=scripts/lib/apt.sh
source scripts/lib/apt.sh

setup() {
  need_apt git ca-certificates
  python3 -c 'import ensurepip' 2>/dev/null || need_apt python3-venv
  command -v terraform >/dev/null || die "terraform (>= 1.11) is not on PATH: the CI image provides it"
  # A CLI config path that points nowhere only produces warnings; drop it.
  if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
  # shellcheck source=scripts/lib/venv.sh
  source scripts/lib/venv.sh
  terraform version | sed -n 1p
  echo "checkov $(checkov --version)"
  echo "providers: ${TF_OFFLINE_DIR:+offline accelerator at $TF_OFFLINE_DIR}${TF_OFFLINE_DIR:-registry}"
}
step setup setup

mapfile -t ROOTS < <(for d in infra/*/*/; do ls "$d"*.tf >/dev/null 2>&1 && echo "${d%/}"; done)
[ "${#ROOTS[@]}" -gt 0 ] || die "no Terraform stacks under infra/*/*/"
echo "stacks and modules: ${ROOTS[*]}"
for d in "${ROOTS[@]}"; do
  ls "$d"/tests/*.tftest.hcl >/dev/null 2>&1 || die "$d has no tests/*.tftest.hcl: every stack and module is tested on planned values"
done

step "terraform fmt" terraform fmt -check -recursive -diff infra
# The inputs/outputs tables of every README are generated from variables.tf/outputs.tf.
step "reference tables (scripts/refdocs.py --check infra)" python3 scripts/refdocs.py --check infra
step "terraform validate (${#ROOTS[@]})" python3 scripts/lib/tfrun.py "${ROOTS[@]}" -- validate -no-color
step "terraform test (${#ROOTS[@]})" python3 scripts/lib/tfrun.py "${ROOTS[@]}" -- test -no-color
# Every core (pytest-xdist): each worker has its own Terraform session (offline providers, init cache)
# and runs each stack's `terraform test` it needs once; worksteal evens out the slow mutation tests.
step "pytest tests/infra" pytest -q -p no:cacheprovider -n auto --dist worksteal tests/infra

checkov_all() {
  local d rc=0 report
  report="$(mktemp -d)"
  on_exit "rm -rf '$report'"
  for d in "${ROOTS[@]}"; do
    # No network: no guideline download, no Prisma mapping. Skips are only the inline ones in the code.
    BC_SKIP_MAPPING=TRUE checkov -d "$d" --framework terraform --skip-download --quiet -o json \
      >"$report/checkov.json" 2>"$report/checkov.err" || true
    if ! python3 - "$d" "$report/checkov.json" <<'PY'; then
import json, sys
stack, path = sys.argv[1:3]
try:
    doc = json.load(open(path))
except ValueError:
    sys.exit(f"checkov produced no JSON for {stack}")
doc = doc[0] if isinstance(doc, list) else doc
if "results" not in doc:  # a directory with no resources checkov knows
    import pathlib, re
    declared = any(re.search(r'^resource\s+"', f.read_text(), re.M) for f in pathlib.Path(stack).glob("*.tf"))
    if declared or doc.get("parsing_errors"):
        sys.exit(f"checkov scanned nothing in {stack}: {doc}")
    # A module of locals and outputs only (infra/modules/vm-boot renders the boot configuration).
    print(f"checkov: {stack}: no resources, nothing to scan")
    sys.exit(0)
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
print(f"checkov: {stack}: passed={summ['passed']} failed={summ['failed']} skipped={summ['skipped']}")
sys.exit(1 if bad else 0)
PY
      # Every directory is scanned before the step fails.
      tail -n 20 "$report/checkov.err" >&2
      rc=1
    fi
  done
  return "$rc"
}
step "checkov (zero failures)" checkov_all
finish
