"""The chart-check steps that work on every value set: lint, render to out/chart/<set>/, and
validate each rendered object against the Kubernetes OpenAPI schemas (kubernetes-validate, offline,
strict: unknown fields are errors).

    python tests/chart/render_validate.py lint
    python tests/chart/render_validate.py render OUT_DIR
    python tests/chart/render_validate.py validate OUT_DIR

Each prints one line per value set and exits non-zero on any failure.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chartlib  # noqa: E402

# The chart's floor (Chart.yaml kubeVersion) and the newest release kubernetes-validate bundles.
SCHEMA_VERSIONS = ["1.30.0", "1.37.0"]
# Kinds from CRDs have no schema in the Kubernetes OpenAPI set; they are skipped and listed.
CRD_API_GROUPS = ("monitoring.coreos.com/", "gateway.networking.k8s.io/")


def cmd_lint() -> int:
    failed = 0
    for name, path in chartlib.value_sets().items():
        findings = chartlib.lint(path)
        print(f"  lint {name:16} {'ok' if not findings else 'FAILED'}")
        for f in findings:
            print(f"      {f}")
        failed += bool(findings)
    return 1 if failed else 0


def cmd_render(out: Path) -> int:
    for d in (out, out.parent / (out.name + "-raw")):
        if d.exists():
            shutil.rmtree(d)
    failed = 0
    for name, path in chartlib.value_sets().items():
        try:
            docs = chartlib.documents(chartlib.render(path))
        except chartlib.ChartError as e:
            print(f"  render {name:16} FAILED: {e}")
            failed += 1
            continue
        target = out / name
        target.mkdir(parents=True)
        # Helm's own text too, for yamllint: the re-dumped objects below would hide whitespace slips.
        raw = out.parent / (out.name + "-raw") / name
        raw.mkdir(parents=True, exist_ok=True)
        for source, text in chartlib.render(path).items():
            if text.strip():
                (raw / Path(source).name).write_text(text)
        # One file per object, so checkov and yamllint name the object in their findings.
        for i, (source, obj) in enumerate(docs):
            fname = f"{i:02d}-{obj['kind'].lower()}-{Path(source).stem}.yaml"
            (target / fname).write_text(f"# Source: {source}\n" + yaml.safe_dump(obj, sort_keys=False))
        kinds = sorted({obj["kind"] for _, obj in docs})
        print(f"  render {name:16} {len(docs):2d} objects: {', '.join(kinds)}")
    return 1 if failed else 0


def cmd_validate(out: Path) -> int:
    import kubernetes_validate

    stats = {"objects": 0, "validations": 0, "skipped_crd": [], "errors": []}
    for set_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        ok = 0
        for f in sorted(set_dir.glob("*.yaml")):
            obj = yaml.safe_load(f.read_text())
            stats["objects"] += 1
            if obj["apiVersion"].startswith(CRD_API_GROUPS):
                stats["skipped_crd"].append(f"{set_dir.name}/{obj['kind']}")
                continue
            for version in SCHEMA_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path)
                    stats["errors"].append(f"{set_dir.name}/{f.name} @ {version}: {where}: {e.message}")
                    continue
                except kubernetes_validate.SchemaNotFoundError as e:
                    # Not a CRD we know of: a typo in kind/apiVersion must fail, not be skipped.
                    stats["errors"].append(f"{set_dir.name}/{f.name}: {e.message}")
                    continue
                stats["validations"] += 1
            ok += 1
        print(f"  validate {set_dir.name:16} {ok} objects against Kubernetes {' and '.join(SCHEMA_VERSIONS)}")
    stats["validated_objects"] = stats["objects"] - len(stats["skipped_crd"])
    for e in stats["errors"]:
        print(f"  ERROR {e}")
    if stats["skipped_crd"]:
        print(f"  skipped (CRD kinds, no upstream schema): {', '.join(stats['skipped_crd'])}")
    (out / "validate-summary.json").write_text(json.dumps(stats, indent=2))
    return 1 if stats["errors"] else 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print(f"  backend: {chartlib.backend_version()}")
    if argv[0] == "lint":
        return cmd_lint()
    if argv[0] == "render":
        return cmd_render(Path(argv[1]))
    if argv[0] == "validate":
        return cmd_validate(Path(argv[1]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
