"""The generated inputs/outputs tables of the Terraform READMEs (scripts/refdocs.py) and their drift
check, which `make tf-check` runs: a changed description, a new variable or a removed output with an
unchanged README must fail the check and name the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, mutate

REFDOCS = REPO_ROOT / "scripts" / "refdocs.py"


def refdocs(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REFDOCS), "--root", str(root), *args],
                          capture_output=True, text=True, check=False)


def test_repository_tables_are_current():
    r = refdocs(REPO_ROOT, "--check", "infra")
    assert r.returncode == 0, r.stderr


def test_every_stack_and_module_has_both_tables():
    for d in sorted(REPO_ROOT.glob("infra/*/*/")):
        if not any(d.glob("*.tf")):
            continue
        readme = (d / "README.md").read_text()
        for kind in ("inputs", "outputs"):
            assert f"<!-- refdocs:{kind} begin" in readme, f"{d.relative_to(REPO_ROOT)}: no {kind} table"


def test_table_row_is_the_variable(tmp_path):
    """The row says what variables.tf says: name, type as written, default, description."""
    readme = (REPO_ROOT / "infra/aws/vm/README.md").read_text()
    assert ("| `tags` | `map(string)` | `{}` | Extra tags for every resource (Project, ManagedBy and Stack "
            "are always set and win). |") in readme
    assert "| `stack_permissions_boundary_arn` | `string` | required |" in readme
    boot = (REPO_ROOT / "infra/modules/vm-boot/README.md").read_text()
    assert '`object({ source = string, bucket = string, prefix = optional(string, "shipshape/"),' in boot


def test_changed_description_fails_the_check(tmp_path):
    root = mutate(tmp_path, {"infra/aws/vm/variables.tf": [
        ('description = "Extra tags for every resource (Project',
         'description = "Additional tags for every resource (Project')]})
    r = refdocs(root, "--check", "infra")
    assert r.returncode == 1
    assert "infra/aws/vm/README.md" in r.stderr
    assert "infra/aws/eks/README.md" not in r.stderr  # only the stale README is named
    # The generator repairs it, and the check passes again.
    assert refdocs(root, "infra").returncode == 0
    assert "Additional tags for every resource" in (root / "infra/aws/vm/README.md").read_text()
    assert refdocs(root, "--check", "infra").returncode == 0


def test_new_output_and_hand_edited_table_fail_the_check(tmp_path):
    root = mutate(tmp_path, {
        "infra/modules/s3-bucket/outputs.tf": [('output "name" {', 'output "bucket_name" {')],
        "infra/gcp/vm/README.md": [("| `region` |", "| `zone_region` |")],
    })
    r = refdocs(root, "--check", "infra")
    assert r.returncode == 1
    assert "infra/modules/s3-bucket/README.md" in r.stderr and "infra/gcp/vm/README.md" in r.stderr


def test_undescribed_variable_or_output_fails(tmp_path):
    root = mutate(tmp_path, {
        "infra/gcp/vm/variables.tf": [('variable "zone" {\n  description = ', 'variable "zone" {\n  # description = ')],
        "infra/aws/eks/outputs.tf": [('output "cluster_name" {\n  description = ', 'output "cluster_name" {\n  # description = ')],
    })
    for args in (("--check", "infra"), ("infra",)):
        r = refdocs(root, *args)
        assert r.returncode == 1
        assert "variable 'zone' needs a description" in r.stderr, r.stderr
        assert "output 'cluster_name' needs a description" in r.stderr, r.stderr
