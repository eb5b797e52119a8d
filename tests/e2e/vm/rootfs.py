"""The Debian 12 root file system the VM tests boot, built once with mmdebstrap and cached.

Usable as a module (the `rootfs` session fixture) and as a command, so provisioning can build the
cache ahead of the tests: `python3 tests/e2e/vm/rootfs.py [--debian-mirror URL] [--cache-dir DIR]`.

Where the packages come from, in this order:
  * --debian-mirror / VM_TEST_DEBIAN_MIRROR: a Debian archive URL (e.g. a local mirror or proxy);
  * the host's own apt sources, when the host is Debian 12 (/etc/apt/sources.list.d/debian.sources);
  * otherwise mmdebstrap's built-in default archive for the suite.
The archive is checked against the keyring of Debian's `debian-archive-keyring` package (packaged on
Ubuntu as well), so an Ubuntu runner builds the same Debian rootfs.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUITE = "bookworm"
# What a cloud image of Debian 12 brings that the VM path uses: systemd, cloud-init (python3),
# curl for downloads, openssl to verify release signatures. flock comes with util-linux (essential).
PACKAGES = ["systemd", "systemd-sysv", "dbus", "cloud-init", "python3", "curl", "openssl", "ca-certificates"]
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("VM_TEST_CACHE_DIR") or Path(base) / "shipshape")


def _host_is_bookworm() -> bool:
    try:
        return "VERSION_CODENAME=bookworm" in Path("/etc/os-release").read_text()
    except OSError:
        return False


def mirror_args(mirror: str | None) -> list[str]:
    """mmdebstrap's trailing mirror arguments for the chosen source."""
    if mirror:
        return [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main"]
    if HOST_SOURCES.is_file() and _host_is_bookworm():
        return [str(HOST_SOURCES)]
    return []  # mmdebstrap's default archive for a Debian suite


def build_args(mirror: str | None) -> list[str]:
    return ["--format=tar", "--variant=minbase", f"--keyring={KEYRING}",
            "--include=" + ",".join(PACKAGES), SUITE]


def cache_key(mirror: str | None) -> str:
    h = hashlib.sha256()
    for a in build_args(mirror) + mirror_args(mirror):
        h.update(a.encode() + b"\0")
        if a == str(HOST_SOURCES):
            h.update(HOST_SOURCES.read_bytes())
    return h.hexdigest()[:16]


def ensure_rootfs(cache_dir: Path, mirror: str | None, log=print) -> Path:
    """The cached rootfs tarball, built first if missing. Raises RuntimeError with mmdebstrap's tail."""
    if not KEYRING.is_file():
        raise RuntimeError(f"{KEYRING} is missing: install the debian-archive-keyring package")
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tar = cache_dir / f"vm-rootfs-{cache_key(mirror)}.tar"
    if tar.is_file():
        return tar
    partial = tar.with_suffix(".tar.partial")
    cmd = ["mmdebstrap", "--quiet", *build_args(mirror), str(partial), *mirror_args(mirror)]
    log(f"building the Debian {SUITE} rootfs: {' '.join(cmd)}")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
        raise RuntimeError(f"mmdebstrap failed (exit {res.returncode}):\n{tail}")
    partial.rename(tar)
    return tar


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--debian-mirror", default=os.environ.get("VM_TEST_DEBIAN_MIRROR") or None)
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    a = p.parse_args()
    try:
        print(ensure_rootfs(a.cache_dir, a.debian_mirror))
    except RuntimeError as e:
        print(f"vm rootfs: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
