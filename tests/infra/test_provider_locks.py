"""Every root stack runs on the provider version its tests ran against.

The tests (terraform test, validate, the plan probes) run against hashicorp/aws 6.19.0 and
hashicorp/google 7.9.0. Without a dependency lock file, a runner's `terraform init` would pick the
newest release the constraint allows, so a user's first plan could use a provider nothing here has
seen. AWS stacks therefore commit `.terraform.lock.hcl` (version + the registry's zh: checksums of
every platform's package, which `init` verifies downloads against). Google stacks have no committed
lock yet (it is written by the first networked `terraform init`, then committed), so their
constraint allows only patch releases of the tested version.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2

from conftest import REPO_ROOT, mutate

TESTED = {"hashicorp/aws": "6.19.0", "hashicorp/google": "7.9.0"}
REGISTRY = "registry.terraform.io/"


def root_stacks(root: Path) -> list[Path]:
    return sorted(p for p in (root / "infra").glob("*/*") if p.parent.name != "modules" and (p / "versions.tf").exists())


def required_providers(stack: Path) -> dict[str, str]:
    """{source: version constraint} of the stack's terraform block."""
    with (stack / "versions.tf").open() as fh:
        parsed = hcl2.load(fh)
    out = {}
    for block in parsed.get("terraform", []):
        for rp in block.get("required_providers", []):
            for specs in rp.values():
                for spec in specs if isinstance(specs, list) else [specs]:
                    out[spec["source"]] = spec.get("version", "")
    return out


def locked(stack: Path) -> dict[str, dict]:
    lock = stack / ".terraform.lock.hcl"
    if not lock.exists():
        return {}
    with lock.open() as fh:
        parsed = hcl2.load(fh)
    # The parser wraps each attribute in a list: {"version": ["6.19.0"], "hashes": [[...]]}.
    return {
        name.removeprefix(REGISTRY): {key: value[0] for key, value in body.items() if isinstance(value, list)}
        for entry in parsed.get("provider", [])
        for name, body in entry.items()
    }


def problems(root: Path) -> list[str]:
    found = []
    for stack in root_stacks(root):
        rel = stack.relative_to(root)
        locks = locked(stack)
        for source, constraint in required_providers(stack).items():
            want = TESTED.get(source)
            if want is None:
                found.append(f"{rel}: {source} has no tested version (only {sorted(TESTED)} run offline)")
            elif source in locks:
                entry = locks[source]
                if entry.get("version") != want:
                    found.append(f"{rel}: lock file has {source} {entry.get('version')}, the tests ran {want}")
                if not any(h.startswith("zh:") for h in entry.get("hashes", [])):
                    found.append(f"{rel}: lock file for {source} has no zh: (package) checksums")
            elif source == "hashicorp/aws":
                found.append(f"{rel}: no .terraform.lock.hcl entry for {source}")
            elif not re.fullmatch(r"~>\s*" + re.escape(want), constraint.strip()):
                found.append(f"{rel}: {source} constraint {constraint!r} allows more than patch releases of {want}")
    return found


def test_every_stack_runs_the_tested_provider_versions():
    assert len(root_stacks(REPO_ROOT)) >= 5
    assert problems(REPO_ROOT) == []


def test_a_missing_lock_file_is_caught(tmp_path):
    root = mutate(tmp_path, {})
    (root / "infra/aws/vm/.terraform.lock.hcl").unlink()
    assert problems(root) == ["infra/aws/vm: no .terraform.lock.hcl entry for hashicorp/aws"]


def test_a_lock_on_another_version_is_caught(tmp_path):
    root = mutate(tmp_path, {"infra/aws/eks/.terraform.lock.hcl": [('version     = "6.19.0"', 'version     = "6.30.0"')]})
    assert problems(root) == ["infra/aws/eks: lock file has hashicorp/aws 6.30.0, the tests ran 6.19.0"]


def test_a_loose_google_constraint_is_caught(tmp_path):
    root = mutate(tmp_path, {"infra/gcp/vm/versions.tf": [('"~> 7.9.0"', '"~> 7.0"')]})
    assert problems(root) == ["infra/gcp/vm: hashicorp/google constraint '~> 7.0' allows more than patch releases of 7.9.0"]
