#!/usr/bin/env bash
# Proves the Helm chart offline: lint and render every value set in tests/chart/values/, validate
# each rendered object against the Kubernetes 1.30 and 1.37 OpenAPI schemas, assert what
# production needs (pytest, including the refused bad values), the alert rules with promtool
# (check + unit tests) and the Grafana dashboard (tests/chart/test_monitoring.py), yamllint, checkov.
# Uses the real `helm` when it is on PATH (CircleCI), else helm-python-sdk (Helm's Go SDK).
# Set CHART_CHECK_OUT=DIR to keep the rendered manifests and reports (e.g. as CI artifacts).
set -Eeuo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
# Named, timed steps; a failure names its step (scripts/lib/step.sh).
# shellcheck source=scripts/lib/step.sh
source scripts/lib/step.sh
CHART=deploy/helm/shipshape

if [ -n "${CHART_CHECK_OUT:-}" ]; then
  OUT="$CHART_CHECK_OUT"
  mkdir -p "$OUT"
else
  OUT="$(mktemp -d)"
  on_exit "rm -rf '$OUT'"
fi

step "python tools venv (tools/python/*.txt)"
command -v python3 >/dev/null || { source scripts/lib/apt.sh; need_apt python3 python3-venv; }
python3 -c 'import venv, ensurepip' 2>/dev/null || { source scripts/lib/apt.sh; need_apt python3-venv; }
# shellcheck source=scripts/lib/venv.sh
source scripts/lib/venv.sh
python -c 'import helm_python, kubernetes_validate, yaml' >/dev/null
step_end

step "promtool (Debian package prometheus)"
command -v promtool >/dev/null || { source scripts/lib/apt.sh; need_apt prometheus; }
promtool --version 2>&1 | head -n 1 | sed 's/^/    /'
step_end

step "backend"
if command -v helm >/dev/null && [ -z "${CHART_BACKEND:-}" ]; then
  echo "    real helm: $(helm version --short)"
else
  echo "    no helm on PATH: helm-python-sdk $(python -c 'import helm_python as h; print(h.helm_c_version(), "/ Helm SDK", h.helm_sdk_version())')"
fi
step_end

step "helm lint --strict (every value set, kube 1.30)"
python tests/chart/render_validate.py lint
step_end

step "render every value set"
python tests/chart/render_validate.py render "$OUT/chart"
step_end

step "kubernetes schema validation (strict, 1.30.0 and 1.37.0)"
python tests/chart/render_validate.py validate "$OUT/chart"
step_end

step "yamllint (chart values, value sets, Helm's rendered text)"
yamllint -c tests/chart/yamllint.yaml -f parsable --strict \
  "$CHART/Chart.yaml" "$CHART/values.yaml" "$CHART/.checkov.yaml" tests/chart/values \
  tests/chart/yamllint.yaml "$OUT/chart-raw" deploy/helm/shipshape/files deploy/monitoring/tests
python -m json.tool "$CHART/values.schema.json" >/dev/null
echo "    ok ($(find "$OUT/chart-raw" -name '*.yaml' | wc -l) rendered files + chart and value files)"
step_end

step "values table (README.md generated from values.yaml: scripts/refdocs.py --check)"
python scripts/refdocs.py --check "$CHART"
step_end

step "chart assertions and refused values (pytest tests/chart)"
python -m pytest tests/chart -q -p no:cacheprovider --junitxml="$OUT/chart-pytest.xml"
step_end

step "checkov (rendered manifests, skips in $CHART/.checkov.yaml and inline)"
set +e
checkov -d "$OUT/chart" --config-file "$CHART/.checkov.yaml" -o json >"$OUT/checkov.json" 2>"$OUT/checkov.stderr"
ck_rc=$?
set -e
python - "$OUT/checkov.json" "$OUT/checkov-summary.txt" "$ck_rc" <<'PY'
import json, sys
path, summary_path, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    reports = json.load(open(path))
except ValueError:
    sys.exit(f"checkov wrote no JSON report (exit {rc}); see checkov.stderr")
reports = reports if isinstance(reports, list) else [reports]
total = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
skipped = {}
for r in reports:
    for k in total:
        total[k] += r["summary"].get(k, 0)
    for c in r["results"].get("failed_checks", []):
        print(f"    FAILED {c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})")
    for c in r["results"].get("skipped_checks", []):
        skipped[c["check_id"]] = skipped.get(c["check_id"], 0) + 1
line = (f"passed {total['passed']}, failed {total['failed']}, skipped {total['skipped']} "
        f"(inline: {', '.join(f'{k} x{v}' for k, v in sorted(skipped.items())) or 'none'}), "
        f"resources {total['resource_count']}, parsing errors {total['parsing_errors']}")
print("    checkov: " + line)
open(summary_path, "w").write(line)
if total["failed"] or total["parsing_errors"] or total["resource_count"] == 0 or rc not in (0, 1):
    sys.exit(1)
PY
step_end

python - "$OUT" "$ROOT/$CHART/.checkov.yaml" <<'PY'
import json, pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
v = json.loads((out / "chart" / "validate-summary.json").read_text())
sets = sorted(p.name for p in (out / "chart").iterdir() if p.is_dir())
skips = yaml.safe_load(open(sys.argv[2])).get("skip-check", [])
print("==> summary")
print(f"    value sets rendered: {len(sets)} ({', '.join(sets)})")
print(f"    manifests rendered: {v['objects']}; schema-validated: {v['validated_objects']} "
      f"x 2 Kubernetes versions = {v['validations']} validations")
print(f"    not schema-validated (CRD kinds): {', '.join(v['skipped_crd']) or 'none'}")
print(f"    checkov: {(out / 'checkov-summary.txt').read_text()}; checks skipped chart-wide: {', '.join(skips)}")
PY
step_summary
echo "chart-check: passed"
