"""Render and lint the shipshape chart with the real `helm` when it is on PATH (CircleCI), else with
helm-python-sdk (Helm's Go SDK as a shared library, from PyPI), so the same checks run offline.

Both backends take a values file (or a dict) and return {template path: rendered text}; documents
are then split and parsed by `documents()`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "shipshape"
VALUES_DIR = Path(__file__).resolve().parent / "values"
BAD_VALUES_DIR = VALUES_DIR / "bad"
RELEASE = "shipshape"
NAMESPACE = "shipshape"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion): lint and render against it.
KUBE_VERSION = "1.30.0"


class ChartError(Exception):
    """Helm refused the values or a template failed (schema error, `fail` guard, bad YAML)."""


def backend() -> str:
    forced = os.environ.get("CHART_BACKEND")
    if forced:
        return forced
    return "helm" if shutil.which("helm") else "sdk"


def backend_version() -> str:
    if backend() == "helm":
        out = subprocess.run(["helm", "version", "--short"], capture_output=True, text=True, check=True)
        return f"helm CLI {out.stdout.strip()}"
    import helm_python

    return f"helm-python-sdk (Helm SDK {helm_python.helm_sdk_version()})"


def value_sets() -> dict[str, Path]:
    """The good value sets: every tests/chart/values/*.yaml, by file stem."""
    return {p.stem: p for p in sorted(VALUES_DIR.glob("*.yaml"))}


def bad_value_sets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BAD_VALUES_DIR.glob("*.yaml"))}


def load_values(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a values file must be a mapping")
    return data


def _values_file(values: Path | dict, tmp: Path) -> Path:
    if isinstance(values, Path):
        return values
    f = tmp / "values.yaml"
    f.write_text(yaml.safe_dump(values))
    return f


def render(values: Path | dict, chart: Path = CHART) -> dict[str, str]:
    """Render every template (hooks and tests included) as an install would; NOTES.txt dropped."""
    if backend() == "helm":
        with tempfile.TemporaryDirectory() as tmp:
            vf = _values_file(values, Path(tmp))
            proc = subprocess.run(
                ["helm", "template", RELEASE, str(chart), "--namespace", NAMESPACE,
                 "--kube-version", KUBE_VERSION, "-f", str(vf)],
                capture_output=True, text=True,
            )
        if proc.returncode != 0:
            raise ChartError(proc.stderr.strip())
        # `helm template` joins templates as "---\n# Source: <path>\n<doc>".
        out: dict[str, str] = {}
        for chunk in re.split(r"^---\s*$", proc.stdout, flags=re.M):
            m = re.search(r"^# Source: (.+)$", chunk, flags=re.M)
            if m:
                out[m.group(1).strip()] = out.get(m.group(1).strip(), "") + "\n---\n" + chunk
        return out

    import helm_python

    vals = load_values(values) if isinstance(values, Path) else values
    try:
        with helm_python.Chart.load(chart) as loaded:
            rendered = loaded.render(vals, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except helm_python.HelmError as e:
        raise ChartError(str(e)) from e
    return {k: v for k, v in rendered.items() if not k.endswith("NOTES.txt")}


def lint(values: Path | dict) -> list[str]:
    """`helm lint --strict`; returns the findings that fail it (warnings and errors)."""
    if backend() == "helm":
        with tempfile.TemporaryDirectory() as tmp:
            vf = _values_file(values, Path(tmp))
            proc = subprocess.run(
                ["helm", "lint", str(CHART), "--strict", "--namespace", NAMESPACE,
                 "--kube-version", KUBE_VERSION, "-f", str(vf)],
                capture_output=True, text=True,
            )
        if proc.returncode == 0:
            return []
        return [line for line in (proc.stdout + proc.stderr).splitlines()
                if "[ERROR]" in line or "[WARNING]" in line or "Error" in line] or [proc.stdout + proc.stderr]

    import helm_python

    vals = load_values(values) if isinstance(values, Path) else values
    report = helm_python.lint(CHART, vals, strict=True, namespace=NAMESPACE,
                              kube_version=f"v{KUBE_VERSION}")
    # Severity 1 is INFO (e.g. "icon is recommended"), which `helm lint --strict` also lets pass.
    found = [f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    return found + list(report.get("errors") or [])


def documents(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    """(template path, object) for every non-empty YAML document."""
    docs: list[tuple[str, dict]] = []
    for source, text in sorted(rendered.items()):
        try:
            parsed = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise ChartError(f"{source} is not valid YAML: {e}") from e
        for obj in parsed:
            if obj:
                if not isinstance(obj, dict) or "kind" not in obj:
                    raise ChartError(f"{source} rendered something that is not a Kubernetes object")
                docs.append((source, obj))
    return docs
