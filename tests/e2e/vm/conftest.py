"""Fixtures of the VM tests (`make vm-boot-test`; docs/vm.md "The VM tests").

Session: the tools (one clear line naming a missing one, then stop), the Debian 12 rootfs (cached),
the release build, a signing key standing in for the KMS key, Terraform (scripts/lib/tfrun.py:
registry providers, or TF_OFFLINE_DIR). Per scenario: `vm_env(kind, data_disk=...)` gives a bucket,
a fake cloud in the VM's own network namespace, and a machine booted from the user data that
infra/modules/vm-boot renders; finalizers power everything off and remove it. A failing test gets
the machine's journal, failed units and cloud-init output attached to its report.

Environment (or the matching --options): VM_TEST_DEBIAN_MIRROR (Debian archive for the rootfs),
VM_TEST_CACHE_DIR (rootfs cache, default ~/.cache/shipshape), VM_TEST_RELEASE_BINARY (default
release/shipshape in cargo's target directory, which CARGO_TARGET_DIR may move).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO_ROOT / "scripts" / "lib"))

import rootfs as rootfs_mod  # noqa: E402
import vmlib  # noqa: E402

MODULE = REPO_ROOT / "infra" / "modules" / "vm-boot"
BUCKET_NAME = "shipshape-releases-test"
REGION = "us-east-1"
TOOLS = ["systemd-nspawn", "nsenter", "ip", "losetup", "openssl", "objdump", "curl", "terraform", "tar", "mount"]


def pytest_addoption(parser):
    g = parser.getgroup("vm", "VM boot tests")
    g.addoption("--debian-mirror", default=os.environ.get("VM_TEST_DEBIAN_MIRROR") or None,
                help="Debian archive URL for the rootfs (default: the host's Debian sources, else mmdebstrap's)")
    g.addoption("--vm-cache-dir", type=Path, default=rootfs_mod.default_cache_dir(), help="rootfs cache")
    g.addoption("--release-binary", type=Path, default=os.environ.get("VM_TEST_RELEASE_BINARY") or None)


def release_binary(config) -> Path:
    """The --release-binary given, else the release build where cargo put it."""
    given = config.getoption("--release-binary")
    if given:
        return Path(given)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout
    return Path(json.loads(meta)["target_directory"]) / "release" / "shipshape"


def _stop(msg: str) -> None:
    pytest.exit(f"vm-boot-test: {msg}", returncode=3)


@pytest.fixture(scope="session", autouse=True)
def habitat(request):
    """What the tests assume, checked once: root, the tools, the release build."""
    if os.geteuid() != 0:
        _stop("must run as root (it boots system containers): sudo make vm-boot-test")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        _stop(f"missing tool(s): {', '.join(missing)} (scripts/provision-vm-test.sh installs them)")
    binary = release_binary(request.config)
    if not binary.is_file():
        _stop(f"no release build at {binary}: cargo build --release (make vm-boot-test builds it)")


@pytest.fixture(scope="session")
def rootfs(request) -> Path:
    try:
        return rootfs_mod.ensure_rootfs(request.config.getoption("--vm-cache-dir"),
                                        request.config.getoption("--debian-mirror"))
    except RuntimeError as e:
        _stop(f"cannot build the Debian rootfs: {e}")


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("vm")


@pytest.fixture(scope="session")
def release(request, work) -> Path:
    """A private copy of the release build: a concurrent build cannot change what the tests publish."""
    copy = work / "shipshape"
    shutil.copyfile(release_binary(request.config), copy)
    copy.chmod(0o755)
    return copy


@pytest.fixture(scope="session")
def signing_key(work) -> vmlib.SigningKey:
    return vmlib.SigningKey.create(work)


@pytest.fixture(scope="session")
def terraform():
    from tfrun import Terraform
    try:
        with Terraform() as tf:
            yield tf
    except SystemExit as e:
        _stop(str(e))


def render_user_data(tf, **variables) -> str:
    """infra/modules/vm-boot's user data, evaluated by `terraform console` with these variables."""
    args = ["console", "-no-color"] + [f"-var={k}={v if isinstance(v, str) else json.dumps(v)}"
                                       for k, v in variables.items()]
    res = tf.run(MODULE, *args, stdin="base64encode(local.user_data)\n")
    value = res.stdout.strip().splitlines()[-1]
    assert value.startswith('"') and value.endswith('"'), f"no user data from terraform console: {res.stdout[:300]}"
    return base64.b64decode(value[1:-1]).decode()


def release_config(kind: str, public_key: Path) -> dict:
    cfg = {"source": kind, "bucket": BUCKET_NAME, "endpoint": f"http://127.0.0.1:{vmlib.BUCKET_PORT}",
           "public_key_pem": public_key.read_text()}
    if kind == "s3":
        cfg["region"] = REGION
    return cfg


# ---- scenarios -------------------------------------------------------------------------------------

_LIVE: list[vmlib.Machine] = []


class VmEnv:
    """One VM's world: its bucket, its fake cloud (in its network namespace), its data disk, and the
    machines booted in it (a replacement VM is a new machine with the same namespace and disk)."""

    def __init__(self, tf, rootfs: Path, key: vmlib.SigningKey, kind: str, data_disk: bool, root: Path):
        self.kind, self.rootfs, self.root = kind, rootfs, root
        self.bucket = vmlib.Bucket(root / "bucket", key)
        self.netns = vmlib.Netns()
        self.cloud = vmlib.FakeCloud(kind, self.netns, self.bucket, BUCKET_NAME, REGION, root / "cloud.log")
        self.loop_device = None
        if data_disk:
            img = root / "data-disk.img"
            with img.open("wb") as f:
                f.truncate(128 * 1024 * 1024)
            self.loop_device = vmlib.sh("losetup", "--find", "--show", str(img)).stdout.strip()
        variables = {"release": release_config(kind, key.public), "metadata_endpoint": vmlib.METADATA_ENDPOINT}
        if data_disk:
            variables["data_disk_device"] = "/dev/shipshape-data"
        self.user_data = render_user_data(tf, **variables)
        self.machines: list[vmlib.Machine] = []

    def machine(self) -> vmlib.Machine:
        """A new VM (fresh rootfs, new instance id) in this world."""
        m = vmlib.Machine(self.rootfs, self.user_data, self.netns, self.root / f"vm{len(self.machines)}",
                          data_device=self.loop_device)
        self.machines.append(m)
        _LIVE.append(m)
        return m

    def close(self) -> None:
        for m in self.machines:
            m.destroy()
            if m in _LIVE:
                _LIVE.remove(m)
        self.cloud.close()
        self.netns.close()
        if self.loop_device:
            vmlib.sh("losetup", "-d", self.loop_device, check=False)


@pytest.fixture(scope="module")
def vm_env(request, terraform, rootfs, signing_key, tmp_path_factory):
    envs: list[VmEnv] = []

    def make(kind: str, data_disk: bool = False) -> VmEnv:
        env = VmEnv(terraform, rootfs, signing_key, kind, data_disk, tmp_path_factory.mktemp(f"env-{kind}"))
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LIVE:
        for m in list(_LIVE):
            try:
                report.sections.append((f"machine {m.name}", m.diagnostics()))
            except Exception as e:  # diagnostics must never hide the failure itself
                report.sections.append((f"machine {m.name}", f"no diagnostics: {e}"))
