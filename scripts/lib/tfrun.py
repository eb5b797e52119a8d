#!/usr/bin/env python3
"""Run Terraform against the real providers, or against schema-only stand-ins when offline.

The same Terraform commands (`init -backend=false`, `validate`, `test` with mock providers, `console`)
run in two habitats:

* with network (a hosted CircleCI/GitHub runner, a laptop): `terraform init` installs the real
  providers the lock files name, cached under ~/.cache/shipshape/terraform-plugins;
* without a registry: when TF_OFFLINE_DIR names the tf-offline accelerator (a directory with
  `lib/tf_offline.py`), its schema-only providers are started once and Terraform is pointed at them
  with TF_REATTACH_PROVIDERS. Mock providers (`terraform test`) need only the schema, so tests,
  planned values and validation are the same in both habitats.

Python API (no third-party imports, so pytest and shell scripts can both use it):

    with Terraform() as tf:                 # starts the offline providers if TF_OFFLINE_DIR is set
        tf.run("infra/aws/vm", "validate")   # init once per directory, then the command
        result = tf.test("infra/aws/vm", filter="tests/plan.tftest.hcl", variables={"x": "y"})
        result.ok, result.failures, result.plans[("tests/plan.tftest.hcl", "defaults")]

CLI:  tfrun.py DIR [DIR ...] -- TERRAFORM ARGS   (e.g. `tfrun.py infra/aws/vm -- test`)
      tfrun.py providers                         (internal: serve the offline providers)
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipshape" / "terraform-plugins"


def _offline_dir() -> Path | None:
    value = os.environ.get("TF_OFFLINE_DIR", "").strip()
    if not value:
        return None
    path = Path(value)
    if not (path / "lib" / "tf_offline.py").is_file():
        sys.exit(f"tfrun: TF_OFFLINE_DIR={value} has no lib/tf_offline.py (unset it to use the real providers)")
    return path.resolve()


def serve_providers() -> None:
    """`tfrun.py providers`: run inside tf-offline's own venv (its ensure_venv re-executes this file
    there), start its schema-only providers, print one JSON line with the environment Terraform
    needs, and keep them serving until stdin closes."""
    tool = _offline_dir()
    if tool is None:
        sys.exit("tfrun: `providers` needs TF_OFFLINE_DIR")
    sys.path.insert(0, str(tool / "lib"))
    import tf_offline  # the accelerator's own provider and sandbox code

    tf_offline.__file__ = os.path.abspath(__file__)  # its venv bootstrap re-executes *this* script
    venv = tf_offline.ensure_venv()
    workdir = tempfile.mkdtemp(prefix="tfrun-providers-")
    try:
        with tf_offline.Providers(venv, workdir, plan=False) as reattach:
            env = tf_offline.offline_env(workdir, reattach)
            keys = ("TF_REATTACH_PROVIDERS", "TF_CLI_CONFIG_FILE", "TF_IN_AUTOMATION", "TF_INPUT",
                    "CHECKPOINT_DISABLE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                    "GIT_ALLOW_PROTOCOL")
            print(json.dumps({"env": {k: env[k] for k in keys}, "prefix": tf_offline.sandbox_prefix()}),
                  flush=True)
            sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class TestResult:
    """The outcome of one `terraform test -json -verbose` run."""

    returncode: int
    runs: dict[tuple[str, str], str] = field(default_factory=dict)  # (file, run) -> pass|fail|error|skip
    plans: dict[tuple[str, str], dict] = field(default_factory=dict)  # (file, run) -> plan JSON
    states: dict[tuple[str, str], dict] = field(default_factory=dict)  # (file, run) -> state JSON (apply runs)
    diagnostics: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(s == "pass" for s in self.runs.values())

    @property
    def failures(self) -> list[str]:
        return [f"{f}/{r}: {s}" for (f, r), s in self.runs.items() if s != "pass"]

    def plan(self, run: str) -> dict:
        """The plan of the one run block called `run` (in whichever file ran)."""
        hits = [p for (_, r), p in self.plans.items() if r == run]
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} plans for run {run!r}; have {sorted(self.plans)}")
        return hits[0]


class Terraform:
    """A Terraform environment for one process: the offline providers (if any) are started once and
    every directory is initialised once, in a throwaway TF_DATA_DIR, leaving the checkout untouched."""

    def __init__(self) -> None:
        self.env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
        self.prefix: list[str] = []
        self.offline = _offline_dir()
        self._server: subprocess.Popen | None = None
        self._data = Path(tempfile.mkdtemp(prefix="tfrun-"))
        self._initialised: dict[Path, Path] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "Terraform":
        if shutil.which("terraform") is None:
            raise SystemExit("tfrun: terraform is not on PATH (install Terraform >= 1.11)")
        if self.offline is not None:
            self._server = subprocess.Popen([sys.executable, __file__, "providers"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True)
            line = self._server.stdout.readline()
            if not line:
                raise SystemExit("tfrun: the offline providers did not start")
            served = json.loads(line)
            self.env = {k: v for k, v in self.env.items() if not k.startswith(("TF_CLI_ARGS", "TF_PLUGIN_CACHE"))
                        and k.lower() != "no_proxy"}
            self.env.update(served["env"])
            self.prefix = served["prefix"]
        else:
            PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
            self.env.setdefault("TF_PLUGIN_CACHE_DIR", str(PLUGIN_CACHE))
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.stdin.close()
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()
        shutil.rmtree(self._data, ignore_errors=True)

    @property
    def habitat(self) -> str:
        return f"offline providers from {self.offline}" if self.offline else "registry providers"

    def _raw(self, directory: Path, args: list[str], env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.prefix + ["terraform", *args], cwd=directory, env=env,
                              capture_output=True, text=True, input=stdin)

    def init(self, directory: str | Path) -> tuple[dict, Path]:
        """`terraform init -backend=false` once per directory; returns the env to run it with."""
        d = Path(directory)
        d = (d if d.is_absolute() else REPO_ROOT / d).resolve()
        with self._lock:
            data = self._initialised.get(d)
            if data is None:
                data = Path(tempfile.mkdtemp(prefix="data-", dir=self._data))
                lock = d / ".terraform.lock.hcl"
                env = dict(self.env, TF_DATA_DIR=str(data))
                # Other processes (pytest-xdist workers) may init the same directory at the same time:
                # one at a time, or one of them would take the other's lock file for the checkout's.
                guard = Path(tempfile.gettempdir()) / f"tfrun-init-{hashlib.sha256(str(d).encode()).hexdigest()[:16]}.lock"
                with open(guard, "a") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                    saved = lock.read_bytes() if lock.exists() else None
                    try:
                        res = self._raw(d, ["init", "-backend=false", "-input=false", "-no-color"], env)
                    finally:  # init may write or rewrite the lock file: leave the checkout as it was
                        now = lock.read_bytes() if lock.exists() else None
                        if now != saved:
                            lock.unlink() if saved is None else lock.write_bytes(saved)
                if res.returncode != 0:
                    raise RuntimeError(f"terraform init failed in {d} ({self.habitat}):\n{res.stdout}{res.stderr}")
                self._initialised[d] = data
        return dict(self.env, TF_DATA_DIR=str(data)), d

    def run(self, directory: str | Path, *args: str, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
        env, d = self.init(directory)
        res = self._raw(d, list(args), env, stdin)
        if check and res.returncode != 0:
            raise RuntimeError(f"terraform {' '.join(args)} failed in {d}:\n{res.stdout}{res.stderr}")
        return res

    def test(self, directory: str | Path, filter: str | None = None, variables: dict | None = None,
             extra: list[str] | None = None) -> TestResult:
        """`terraform test -json -verbose`: per-run status and each run's plan (and state) as JSON."""
        args = ["test", "-json", "-verbose", "-no-color"]
        if filter:
            args.append(f"-filter={filter}")
        for k, v in (variables or {}).items():
            args.append(f"-var={k}={v if isinstance(v, str) else json.dumps(v)}")
        res = self.run(directory, *args, *(extra or []), check=False)
        out = TestResult(returncode=res.returncode, log=res.stderr)
        for line in res.stdout.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            kind, file, run = msg.get("type"), msg.get("@testfile"), msg.get("@testrun")
            if kind == "test_run" and msg["test_run"].get("progress") == "complete":
                out.runs[(file, run)] = msg["test_run"]["status"]
            elif kind == "test_plan":
                out.plans[(file, run)] = msg["test_plan"]
            elif kind == "test_state":
                out.states[(file, run)] = msg["test_state"]
            elif kind == "diagnostic":
                d = msg["diagnostic"]
                where = f"{file}/{run}: " if run else (f"{file}: " if file else "")
                out.diagnostics.append(f"{where}{d.get('severity')}: {d.get('summary')}: {d.get('detail', '')}".strip())
        return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["providers"]:
        serve_providers()
        return 0
    if "--" not in argv or argv.index("--") == 0:
        print(__doc__.split("CLI:")[1].strip(), file=sys.stderr)
        return 2
    dirs, args = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    failed = unreachable = 0
    with Terraform() as tf:
        print(f"tfrun: {tf.habitat}", file=sys.stderr)
        for d in dirs:
            try:
                res = tf.run(d, *args, check=False)
            except RuntimeError as e:
                print(e, file=sys.stderr)
                failed += 1
                unreachable += "could not connect to registry" in str(e)
                continue
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            print(f"tfrun: {d}: terraform {' '.join(args)}: {'ok' if res.returncode == 0 else 'FAILED'}",
                  file=sys.stderr)
            failed += res.returncode != 0
    if failed and failed == unreachable:
        # One line naming what this machine lacks (exit 4, as scripts/provision.sh does).
        print("tfrun: habitat lacks the Terraform registry (providers cannot be installed): "
              "set TF_OFFLINE_DIR to the offline accelerator", file=sys.stderr)
        return 4
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
