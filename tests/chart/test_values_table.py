"""The values table of the chart README is generated from values.yaml's `# --` comments
(scripts/refdocs.py) and `make chart-check` fails when it drifts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = "deploy/helm/shipshape"


def refdocs(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts/refdocs.py"), "--root", str(root), *args],
                          capture_output=True, text=True, check=False)


def copy_chart(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / CHART, tmp_path / CHART)
    return tmp_path


def test_values_table_is_current():
    r = refdocs(ROOT, "--check", CHART)
    assert r.returncode == 0, r.stderr


def test_rows_come_from_comments_and_values():
    readme = (ROOT / CHART / "README.md").read_text()
    # A described key, its default as JSON; an undescribed map is expanded; @default replaces a long one.
    assert "| `replicaCount` | `2` | Pods when autoscaling is off. sqlite mode needs exactly 1. |" in readme
    assert "| `probes.startup.periodSeconds` | `2` |  |" in readme
    assert "| `podSecurityContext` | restricted |" in readme
    assert "`podSecurityContext.runAsUser`" not in readme  # a described map is one row


def test_changed_comment_fails_the_check(tmp_path):
    root = copy_chart(tmp_path)
    values = root / CHART / "values.yaml"
    text = values.read_text()
    assert text.count("# -- Pods when autoscaling is off.") == 1
    values.write_text(text.replace("# -- Pods when autoscaling is off.", "# -- Pods without autoscaling."))
    r = refdocs(root, "--check", CHART)
    assert r.returncode == 1 and f"{CHART}/README.md" in r.stderr
    assert refdocs(root, CHART).returncode == 0
    assert refdocs(root, "--check", CHART).returncode == 0


def test_changed_default_fails_the_check(tmp_path):
    root = copy_chart(tmp_path)
    values = root / CHART / "values.yaml"
    text = values.read_text()
    assert text.count("\nrevisionHistoryLimit: 5\n") == 1
    values.write_text(text.replace("\nrevisionHistoryLimit: 5\n", "\nrevisionHistoryLimit: 3\n"))
    r = refdocs(root, "--check", CHART)
    assert r.returncode == 1 and f"{CHART}/README.md" in r.stderr
