"""Shared fixtures of the Terraform tests under tests/infra/ (one test file per stack).

Tests assert on planned values: the session fixture `terraform` runs a stack's `terraform test`
(scripts/lib/tfrun.py) and gives each run block's plan JSON (`result.plan("run-name")`); `stack_test`
shares one such run between test modules; `mutate(tmp_path, {file: [(old, new)]})` copies infra/ and
deploy/ with a planted mistake for the mutation tests, which must see the same check FAIL.

`load_stack(path)` parses a directory's *.tf files (bc-python-hcl2, the parser checkov pins) for the
facts a plan does not carry: which variables a stack declares and which data sources it reads. It
refuses Terraform override files (*_override.tf), which would change the configuration behind the
tests' back. Nothing asserts on expressions as written: that is what the plans are for.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

_LINE_KEYS = ("__start_line__", "__end_line__")


def _unwrap_body(body: dict) -> dict:
    """bc-python-hcl2 wraps each attribute in a 1-element list and each block kind in a list of
    bodies; turn that into plain attributes and (single or listed) block bodies."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in _LINE_KEYS:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            bodies = [_unwrap_block(v) for v in value]
            out[key] = bodies[0] if len(bodies) == 1 else bodies
        elif isinstance(value, list) and len(value) == 1:
            out[key] = _literal(value[0])
        else:
            out[key] = value
    return out


def _unwrap_block(d: dict) -> dict:
    if _is_block_body(d):
        return _unwrap_body(d)
    # A labelled block (backend "s3" {...}, dynamic "x" {...}) is {label: body}.
    if d and all(isinstance(v, dict) and _is_block_body(v) for v in d.values()):
        return {label: _unwrap_body(v) for label, v in d.items()}
    return d  # a map-valued attribute (tags = {...})


_NEGATIVE = re.compile(r"\$\{(-[0-9]+)\}")


def _literal(value: Any) -> Any:
    # The parser keeps a negative number literal as the expression text "${-1}".
    if isinstance(value, str):
        m = _NEGATIVE.fullmatch(value)
        if m:
            return int(m.group(1))
    return value


def _is_block_body(d: dict) -> bool:
    # A block body's attributes are all wrapped in lists (or are line markers); a map attribute's are not.
    return all(isinstance(v, list) or k in _LINE_KEYS for k, v in d.items())


@dataclass
class Stack:
    """One Terraform root module, parsed."""

    path: Path
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)
    data: dict[str, dict[str, dict]] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    providers: dict[str, list[dict]] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)

    def resource(self, rtype: str, name: str) -> dict:
        try:
            return self.resources[rtype][name]
        except KeyError:
            have = sorted(self.resources.get(rtype, {}))
            raise AssertionError(f"{self.path}: no resource {rtype}.{name} (have {rtype}: {have})") from None

    def of_type(self, rtype: str) -> dict[str, dict]:
        return self.resources.get(rtype, {})

    def all_resources(self) -> Iterator[tuple[str, str, dict]]:
        for rtype, by_name in self.resources.items():
            for name, body in by_name.items():
                yield rtype, name, body

    def copy(self) -> "Stack":
        """A deep copy to mutate in negative tests."""
        return copy.deepcopy(self)


def load_stack(path: str | Path) -> Stack:
    """Parse every *.tf file of a stack directory (relative paths are from the repo root)."""
    root = Path(path)
    if not root.is_absolute():
        root = REPO_ROOT / root
    files = sorted(root.glob("*.tf"))
    if not files:
        raise AssertionError(f"{root}: no *.tf files")
    overrides = [f.name for f in files if f.name == "override.tf" or f.name.endswith("_override.tf")]
    if overrides:
        raise AssertionError(f"{root}: override files {overrides} are not allowed (they silently merge)")

    stack = Stack(path=root)
    for f in files:
        with f.open() as fh:
            doc = hcl2.load(fh)
        where = f.relative_to(REPO_ROOT) if f.is_relative_to(REPO_ROOT) else f
        for kind, target in (("resource", stack.resources), ("data", stack.data)):
            for entry in doc.get(kind, []):
                for rtype, by_name in entry.items():
                    for name, body in by_name.items():
                        if name in target.get(rtype, {}):
                            raise AssertionError(f"{where}: duplicate {kind} {rtype}.{name}")
                        parsed = _unwrap_body(body)
                        parsed["_file"] = str(where)
                        parsed["_line"] = body.get("__start_line__")
                        target.setdefault(rtype, {})[name] = parsed
        for kind, target in (("variable", stack.variables), ("output", stack.outputs), ("module", stack.modules)):
            for entry in doc.get(kind, []):
                for name, body in entry.items():
                    target[name] = _unwrap_body(body)
        for entry in doc.get("locals", []):
            stack.locals.update(_unwrap_body(entry))
        for entry in doc.get("provider", []):
            for name, body in entry.items():
                stack.providers.setdefault(name, []).append(_unwrap_body(body))
        for entry in doc.get("terraform", []):
            stack.terraform.append(_unwrap_body(entry))
    return stack


# ---- planned values: terraform test through scripts/lib/tfrun.py --------------------------------

import sys  # noqa: E402
import shutil  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "scripts" / "lib"))
from tfrun import Terraform, TestResult  # noqa: E402

# What a mutated copy needs: the stacks and modules, and the files they read from outside infra/.
_COPIED = ("infra", "deploy")


@pytest.fixture(scope="session")
def terraform() -> Iterator[Terraform]:
    """One Terraform environment for the session: registry providers, or the offline accelerator's
    when TF_OFFLINE_DIR is set. `terraform.test("infra/aws/vm", filter=..., variables=...)`."""
    with Terraform() as tf:
        yield tf


def mutate(tmp_path: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of the repository's infra/ and deploy/ under tmp_path with textual edits applied:
    {"infra/aws/vm/network.tf": [(old, new), ...]}. Each `old` must occur exactly once, so a mutation
    that no longer applies fails loudly instead of silently testing nothing. Returns the copy's root;
    run `terraform.test(root / "infra/aws/vm")` on it."""
    root = tmp_path / "repo"
    for top in _COPIED:
        shutil.copytree(REPO_ROOT / top, root / top, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    for rel, pairs in edits.items():
        f = root / rel
        text = f.read_text()
        for old, new in pairs:
            n = text.count(old)
            assert n == 1, f"mutation of {rel}: {old!r} occurs {n} times (want exactly 1)"
            text = text.replace(old, new)
        f.write_text(text)
    return root


@pytest.fixture(scope="session")
def stack_test(terraform) -> Callable[..., TestResult]:
    """`stack_test("infra/aws/vm", "tests/vm.tftest.hcl")`: that stack's `terraform test` run once per
    session (per pytest-xdist worker) and shared by every test module that reads its plans; mutation
    tests call `terraform.test` on their own copy instead."""
    cache: dict[tuple[str, str], TestResult] = {}

    def get(directory: str, filter: str) -> TestResult:
        key = (directory, filter)
        if key not in cache:
            cache[key] = terraform.test(directory, filter=filter)
        return cache[key]

    return get
