"""Helpers of the image suite's tests and fixtures: pins, HTTP probes, containers."""
from __future__ import annotations

import json
import random
import subprocess
import time

from engine import Engine
from habitat import ROOT

GRACE_SECS = 25  # engine stop timeout: above SHUTDOWN_DRAIN_SECS + SHUTDOWN_GRACE_SECS (3 + 20)
TAG = "localhost/shipshape:e2e"
PINS = ROOT / "tools" / "base-images.lock"


def pinned_images() -> dict:
    """name (as the Dockerfile names it) -> digest, from tools/base-images.lock."""
    pins = {}
    for line in PINS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, digest = line.split("@", 1)
            pins[name] = digest
    return pins


# ------------------------------------------------------------------------------------------ probes
def probe(pid: int, method: str, path: str, port: int = 8000, host: str = "127.0.0.1", data=None,
          headers=()) -> tuple[int, str, str]:
    """HTTP from inside the network namespace of process pid: (status, content type, body)."""
    cmd = ["nsenter", "-t", str(pid), "-n", "curl", "-sS", "--max-time", "5", "-X", method,
           "-w", "\n%{http_code} %{content_type}", f"http://{host}:{port}{path}"]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", data]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    body, _, tail = proc.stdout.rpartition("\n")
    status, _, ctype = tail.partition(" ")
    return (int(status) if status.isdigit() else 0), ctype, body


class Container:
    def __init__(self, engine: Engine, name: str, port: int = 8000):
        self.engine, self.name, self.port = engine, name, port

    @property
    def pid(self) -> int:
        return self.engine.pid(self.name)

    def running(self) -> bool:
        return bool(self.engine.state(self.name).get("Running"))

    def get(self, path, **kw):
        return probe(self.pid, "GET", path, port=self.port, **kw)

    def call(self, method, path, **kw):
        return probe(self.pid, method, path, port=self.port, **kw)

    def wait_ready(self, timeout: float = 20) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            assert self.running(), f"{self.name} exited before it was ready:\n{self.engine.logs(self.name)}"
            if self.get("/readyz")[0] == 200:
                return time.monotonic() - t0
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {timeout} s:\n{self.engine.logs(self.name)}")

    def exec(self, *args, check=True):
        return self.engine("exec", self.name, *args, check=check)


class Containers:
    """Factory of hardened containers and named volumes; everything is removed at the test's end, and a
    failed test's report carries each container's last log lines."""

    def __init__(self, engine: Engine, prefix: str):
        self.engine, self.prefix = engine, prefix
        self.names, self.volumes = [], []

    def volume(self, suffix: str) -> str:
        name = f"{self.prefix}-{suffix}"
        self.engine("volume", "create", "--label", "org.shipshape.e2e=1", name)
        self.volumes.append(name)
        return name

    def run(self, suffix: str, image: str, *opts, port: int = 8000, args=()) -> Container:
        name = f"{self.prefix}-{suffix}"
        self.names.append(name)
        self.engine.run_hardened(name, image, opts, args)
        return Container(self.engine, name, port)

    def logs(self) -> str:
        return "\n".join(f"[{n}]\n{self.engine.logs(n, 40)}" for n in self.names)

    def close(self) -> None:
        # podman waits for a stop timeout first unless told not to; docker's rm -f kills at once.
        now = ["-t", "0"] if self.engine.name == "podman" else []
        for n in self.names:
            self.engine("rm", "-f", "-v", *now, n, check=False)
        for v in self.volumes:
            self.engine("volume", "rm", "-f", v, check=False)


def json_body(body: str):
    return json.loads(body)


def dni() -> str:
    return f"{random.randint(0, 99_999_999):08d}"



