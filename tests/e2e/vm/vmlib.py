"""Machinery of the VM tests: a release bucket on disk, a fake cloud in a network namespace, and a
Debian 12 system container (systemd-nspawn, systemd as PID 1) booted from the rendered user data.

Traffic stays inside namespaces the tests make: each VM gets its own network namespace (loopback plus
the link-local metadata address on it), the fake cloud serves inside it, and every probe enters it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCH = os.uname().machine
BUCKET_PORT = 9000
METADATA_ENDPOINT = "http://169.254.169.254:8775"  # fake_cloud.METADATA_ADDR
GREETING = "Hello World from BenchSci!"


def sh(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("text", True)
    res = subprocess.run(list(cmd), capture_output=True, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout!s}{res.stderr!s}")
    return res


# ---- signing and the bucket ----------------------------------------------------------------------

@dataclass
class SigningKey:
    """An ECDSA P-256 key pair standing in for the KMS release signing key (same signature format:
    base64 DER ECDSA over SHA-256, what `cosign sign-blob --key awskms://...` prints)."""
    private: Path
    public: Path

    @classmethod
    def create(cls, directory: Path) -> "SigningKey":
        priv, pub = directory / "release-signing.key", directory / "release-signing.pem"
        sh("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(priv))
        sh("openssl", "ec", "-in", str(priv), "-pubout", "-out", str(pub))
        return cls(priv, pub)

    def sign(self, data: Path) -> str:
        der = sh("openssl", "dgst", "-sha256", "-sign", str(self.private), str(data), text=False).stdout
        return base64.b64encode(der).decode() + "\n"


class Bucket:
    """The release bucket as files: <prefix>releases/<version>/shipshape-linux-<arch>{,.sha256,.sig}
    and <prefix>current.json, exactly as scripts/deploy-vm.sh writes them."""

    def __init__(self, root: Path, key: SigningKey, prefix: str = "shipshape/"):
        self.root, self.key, self.prefix = root, key, prefix
        root.mkdir(parents=True, exist_ok=True)

    def release_dir(self, version: str) -> Path:
        return self.root / f"{self.prefix}releases/{version}"

    def publish(self, version: str, binary: Path | bytes, point: bool = True) -> str:
        d = self.release_dir(version)
        d.mkdir(parents=True, exist_ok=True)
        target = d / f"shipshape-linux-{ARCH}"
        if isinstance(binary, Path):
            shutil.copyfile(binary, target)
        else:
            target.write_bytes(binary)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        (d / f"shipshape-linux-{ARCH}.sha256").write_text(f"{digest}  shipshape-linux-{ARCH}\n")
        (d / f"shipshape-linux-{ARCH}.sig").write_text(self.key.sign(target))
        if point:
            self.point(version, digest)
        return digest

    def tamper(self, version: str, extra: bytes = b"X") -> str:
        """What an attacker who can write the bucket does: change the binary and replace its checksum
        file and the pointer's checksum to match. Only the signature cannot follow."""
        d = self.release_dir(version)
        target = d / f"shipshape-linux-{ARCH}"
        target.write_bytes(target.read_bytes() + extra)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        (d / f"shipshape-linux-{ARCH}.sha256").write_text(f"{digest}  shipshape-linux-{ARCH}\n")
        self.point(version, digest)
        return digest

    def point(self, version: str, sha256: str) -> None:
        tmp = self.root / f"{self.prefix}.current.json.tmp"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": version, "sha256": sha256}))
        tmp.rename(self.root / f"{self.prefix}current.json")


# ---- the network namespace and the fake cloud ----------------------------------------------------

class Netns:
    """A network namespace made for one VM: loopback up, the metadata address on loopback."""

    def __init__(self):
        self.name = f"shipshape-vm-{uuid.uuid4().hex[:8]}"
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        sh("ip", "-n", self.name, "addr", "add", "169.254.169.254/32", "dev", "lo")

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *cmd, **kw)

    def close(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)


class FakeCloud:
    def __init__(self, kind: str, netns: Netns, bucket: Bucket, bucket_name: str, region: str, log: Path):
        self.kind, self.log = kind, log
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns.name, "python3", str(HERE / "fake_cloud.py"), "--kind", kind,
             "--root", str(bucket.root), "--bucket", bucket_name, "--region", region,
             "--port", str(BUCKET_PORT), "--log", str(log)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"fake cloud did not start: {line}{self.proc.stdout.read()}")

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---- the machine -----------------------------------------------------------------------------------

@dataclass
class Machine:
    """A Debian 12 system container booted from `user_data`: a fresh rootfs (tmpfs) per Machine, a
    reboot loop (nspawn exits 133 on reboot), probes through nsenter / the machine's netns."""

    rootfs_tar: Path
    user_data: str
    netns: Netns
    work: Path
    data_device: str | None = None   # host block device bound in as /dev/shipshape-data
    name: str = field(default_factory=lambda: f"shipshape-vm-{uuid.uuid4().hex[:6]}")
    instance_id: str = field(default_factory=lambda: f"i-{uuid.uuid4().hex[:12]}")
    init_pid: int | None = None
    exits: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.root = self.work / "root"
        self.root.mkdir(parents=True)
        sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "shipshape-vm", str(self.root))
        sh("tar", "-xf", str(self.rootfs_tar), "-C", str(self.root))
        seed = self.root / "var/lib/cloud/seed/nocloud"
        seed.mkdir(parents=True, exist_ok=True)
        (seed / "user-data").write_text(self.user_data)
        os.chmod(seed / "user-data", 0o600)
        (seed / "meta-data").write_text(f"instance-id: {self.instance_id}\nlocal-hostname: {self.name}\n")
        # The container's only differences from a VM, set from outside the artefacts: where the
        # metadata comes from, and no network configuration (the namespace has loopback only).
        (self.root / "etc/cloud/cloud.cfg.d/99-vm-test.cfg").write_text(
            "datasource_list: [NoCloud, None]\nnetwork: {config: disabled}\n")
        self.console = self.work / "console.log"
        self._stop = threading.Event()
        self._nspawn: subprocess.Popen | None = None
        self._loop: threading.Thread | None = None

    # -- lifecycle --
    def boot(self) -> None:
        self._stop.clear()
        self._loop = threading.Thread(target=self._run, daemon=True)
        self._loop.start()
        self.wait_init(len(self.exits))

    def _run(self) -> None:
        while not self._stop.is_set():
            cmd = ["systemd-nspawn", "--quiet", "--boot", f"--network-namespace-path={self.netns.path}",
                   "--register=no", "--keep-unit", f"--machine={self.name}", f"--directory={self.root}",
                   "--console=pipe"]
            if self.data_device:
                cmd.append(f"--bind={self.data_device}:/dev/shipshape-data")
            with self.console.open("a") as out:
                self._nspawn = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                                env=dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1"))
                rc = self._nspawn.wait()
            self.exits.append(rc)
            if rc != 133:  # 133: the container asked for a reboot
                return

    def wait_init(self, boots_done: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        self.init_pid = None
        while time.monotonic() < deadline:
            p = self._nspawn
            if len(self.exits) == boots_done and p is not None and p.poll() is None:
                r = sh("pgrep", "-P", str(p.pid), "-x", "systemd", check=False)
                if r.returncode == 0:
                    pid = int(r.stdout.split()[0])
                    if sh("nsenter", "--target", str(pid), "--all", "--", "true", check=False).returncode == 0:
                        self.init_pid = pid
                        return
            time.sleep(0.2)
        raise AssertionError(f"the container's systemd did not start (exits {self.exits})")

    def wait_stopped(self, timeout: float = 60) -> int:
        self._loop.join(timeout)
        if self._loop.is_alive():
            raise AssertionError(f"the container did not stop within {timeout} s")
        self.init_pid = None
        return self.exits[-1]

    def stop(self) -> None:
        """Power off (nspawn turns SIGTERM into a clean shutdown), then insist."""
        self._stop.set()
        p = self._nspawn
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._loop is not None:
            self._loop.join(10)
        self.init_pid = None

    def destroy(self) -> None:
        self.stop()
        if os.path.ismount(self.root):
            sh("umount", str(self.root), check=False)
        if os.path.ismount(self.root):
            sh("umount", "-l", str(self.root), check=False)

    # -- probes --
    def run(self, *cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        assert self.init_pid, "the machine is not running"
        return sh("nsenter", "--target", str(self.init_pid), "--all", "--", *cmd, check=check, timeout=timeout)

    def wait_running(self, timeout: float = 180) -> str:
        deadline, state = time.monotonic() + timeout, ""
        while time.monotonic() < deadline and not state:
            r = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
            state = r.stdout.strip()
            if not state:
                time.sleep(0.2)
        return state

    def http(self, method: str, path: str, body: dict | None = None, max_time: float = 5) -> tuple[int, str]:
        args = ["curl", "--silent", "--show-error", "--max-time", str(max_time), "-X", method,
                "--write-out", "\n%{http_code}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        r = self.netns.run(*args, f"http://127.0.0.1{path}", check=False)
        text, _, code = r.stdout.rpartition("\n")
        return (int(code) if code.strip().isdigit() else 0), text

    def wait_hello(self, timeout: float = 20) -> None:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            last = self.http("GET", "/hello")
            if last == (200, GREETING):
                return
            time.sleep(0.2)
        raise AssertionError(f"GET /hello did not answer the greeting within {timeout} s (last: {last})")

    def main_pid(self) -> int:
        return int(self.run("systemctl", "show", "--property=MainPID", "--value", "shipshape.service").stdout.strip() or 0)

    def installed(self) -> str:
        r = self.run("cat", "/var/lib/shipshape-release/installed", check=False)
        return r.stdout.strip()

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def diagnostics(self) -> str:
        out = []
        if self.init_pid:
            for cmd in (["systemctl", "--no-pager", "--failed"], ["systemctl", "--no-pager", "status", "shipshape.service"],
                        ["cloud-init", "status", "--long"], ["journalctl", "--no-pager", "-b", "-n", "120"]):
                r = self.run(*cmd, check=False)
                out.append(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
        log = self.file("/var/log/cloud-init-output.log")
        if log.exists():
            out.append("-- cloud-init-output.log (tail) --\n" + "\n".join(log.read_text().splitlines()[-40:]))
        if self.console.exists():
            out.append("-- console (tail) --\n" + "\n".join(self.console.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(out)


class RequestLoop:
    """Bounded GET /hello loop inside a machine's netns while something else happens: counts every
    request that did not answer 200 with the greeting. Stops by itself after `max_seconds`."""

    def __init__(self, machine: Machine, max_seconds: float = 120):
        self.machine, self.max_seconds = machine, max_seconds
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # One process for the whole loop: a Python client inside the namespace, one connection per
        # request (as new clients arrive), 30 s timeout per request (queued, not refused).
        script = (
            "import sys, time, http.client\n"
            "end = time.monotonic() + float(sys.argv[1])\n"
            "while time.monotonic() < end:\n"
            "    try:\n"
            "        c = http.client.HTTPConnection('127.0.0.1', 80, timeout=30)\n"
            "        c.request('GET', '/hello'); r = c.getresponse(); b = r.read().decode()\n"
            "        print('ok' if r.status == 200 and b == sys.argv[2] else f'bad {r.status} {b[:80]!r}', flush=True)\n"
            "    except Exception as e:\n"
            "        print(f'error {type(e).__name__}: {e}', flush=True)\n"
            "    time.sleep(0.02)\n"
        )
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.machine.netns.name, "python3", "-c", script,
                                      str(self.max_seconds), GREETING], stdout=subprocess.PIPE, text=True)
        for line in self.proc.stdout:
            line = line.strip()
            if line == "ok":
                self.ok += 1
            else:
                self.failures.append(line)
            if self._stop.is_set():
                break

    def __enter__(self) -> "RequestLoop":
        self._thread.start()
        deadline = time.monotonic() + 10
        while self.ok == 0 and time.monotonic() < deadline and not self.failures:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.proc.terminate()
        self._thread.join(10)


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
