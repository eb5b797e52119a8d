"""Static checks of the boot configuration and the release build: no boot needed."""
from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess

import pytest
import yaml

import vmlib
from conftest import release_config, render_user_data

EC2_USER_DATA_LIMIT = 16384
CLOUDWATCH = json.dumps({"logs": {"logs_collected": {"files": {"collect_list": [
    {"file_path": "/var/log/shipshape/shipshape.log", "log_group_name": "/shipshape/shipshape/app"}]}}}})


@pytest.fixture(scope="module")
def variants(terraform, signing_key):
    """The user data the two clouds boot: AWS (S3, CloudWatch agent, EBS data disk), GCP (GCS, data disk)."""
    return {
        "aws": render_user_data(terraform, release={**release_config("s3", signing_key.public),
                                                    "endpoint": "https://shipshape-releases.s3.us-east-1.amazonaws.com"},
                                cloudwatch_agent_config=CLOUDWATCH,
                                data_disk_device="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"),  # pragma: allowlist secret
        "gcp": render_user_data(terraform, release={**release_config("gcs", signing_key.public),
                                                    "endpoint": "https://storage.googleapis.com"},
                                data_disk_device="/dev/disk/by-id/google-shipshape-data"),
    }


@pytest.fixture(scope="module")
def chroot(rootfs, tmp_path_factory):
    root = tmp_path_factory.mktemp("static") / "root"
    root.mkdir()
    vmlib.sh("mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "shipshape-static", str(root))
    vmlib.sh("tar", "-xf", str(rootfs), "-C", str(root))
    yield root
    vmlib.sh("umount", str(root), check=False)


def written_files(user_data: str) -> dict[str, tuple[bytes, int]]:
    """path -> (content, mode) of every file the user data writes."""
    doc = yaml.safe_load(user_data)
    out = {}
    for f in doc["write_files"]:
        assert f["encoding"] == "gz+b64", f["path"]
        out[f["path"]] = (gzip.decompress(base64.b64decode(f["content"])), int(f["permissions"], 8))
    return out


def test_release_build_needs_glibc_at_most_2_34(release):
    # Amazon Linux 2023 has glibc 2.34; the test's Debian 12 has 2.36 and would hide a newer need.
    syms = vmlib.sh("objdump", "-T", str(release)).stdout
    versions = sorted({tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", syms)})
    print(f"newest glibc symbol: {'.'.join(map(str, versions[-1]))}")
    assert versions[-1] <= (2, 34), f"the binary needs glibc {versions[-1]}; Amazon Linux 2023 has 2.34"


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_user_data_passes_the_cloud_init_schema(variants, chroot, cloud):
    (chroot / "tmp/user-data").write_text(variants[cloud])
    r = vmlib.sh("chroot", str(chroot), "cloud-init", "schema", "--config-file", "/tmp/user-data", check=False)
    assert r.returncode == 0 and "Valid cloud-config" in r.stdout, r.stdout + r.stderr


def test_user_data_fits_the_ec2_limit(variants):
    size = len(variants["aws"].encode())
    print(f"user data: {size} bytes (EC2 limit {EC2_USER_DATA_LIMIT})")
    assert size <= EC2_USER_DATA_LIMIT


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_units_pass_systemd_analyze_verify(variants, chroot, release, cloud):
    files = written_files(variants[cloud])
    staged = []
    for path, (content, mode) in files.items():
        target = chroot / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
        staged.append(target)
    binary = chroot / "usr/local/bin/shipshape"
    binary.write_bytes(release.read_bytes())
    binary.chmod(0o755)
    units = [p for p in files if p.startswith("/etc/systemd/system/") and "/" not in p[len("/etc/systemd/system/"):]]
    assert "/etc/systemd/system/shipshape.socket" in units
    try:
        r = subprocess.run(["systemd-analyze", "verify", f"--root={chroot}", *units], capture_output=True, text=True)
    finally:
        for t in staged + [binary]:
            t.unlink()
    # verify exits 0 on unknown keys: any output is a finding.
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_release_agent_passes_shellcheck():
    shellcheck = subprocess.run(["which", "shellcheck"], capture_output=True, text=True).stdout.strip()
    if not shellcheck:
        pytest.fail("shellcheck is not installed (scripts/provision-vm-test.sh installs it)")
    files = vmlib.HERE.parents[2] / "infra/modules/vm-boot/files"
    r = subprocess.run([shellcheck, "-S", "warning", str(files / "shipshape-release"),
                        str(files / "shipshape-data-format"), str(files / "shipshape-cloudwatch-agent")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
