"""What the e2e suites share: the habitat check, commands with clear failures, free ports.

A suite names the tools it needs once (``require``); a missing one stops the whole session with one line
that names it and the provisioning command, never a stack trace and never a skip counted as a pass.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out"
HABITAT_EXIT = 4  # the habitat lacks something; the line before says what
# Numbers worth reading at the end of a run (the base conftest prints them and puts them in JUnit).
MEASURED: list[str] = []


def require(suite: str, tools=(), env=(), root: bool = False) -> None:
    """Stop the session (exit 4) with one line when the habitat lacks a tool, a variable or root."""
    missing = [t for t in tools if shutil.which(t) is None]
    missing += [f"${v}" for v in env if not os.environ.get(v)]
    if root and os.geteuid() != 0:
        missing.append("root")
    if missing:
        pytest.exit(
            f"habitat lacks {', '.join(missing)} for the {suite} suite: run scripts/provision.sh {suite}",
            returncode=HABITAT_EXIT,
        )


class CommandFailed(AssertionError):
    pass


def run(cmd, *, check=True, timeout=600, input=None, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run cmd (a list), capture text output; on failure raise with the command and its last output."""
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, input=input,
        env=env, cwd=cwd or ROOT,
    )
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-30:])
        raise CommandFailed(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{tail}")
    return proc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
