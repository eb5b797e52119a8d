"""The GCP path in a booted Debian 12: the VM reads the release pointer from Cloud Storage with its
service account's token, its database lives on a persistent data disk, the release timer picks a new
release up by itself (no SSH, no agent), and the users survive a release and a replacement of the VM
that keeps the data disk."""
from __future__ import annotations

import json
import time

import pytest

import vmlib


@pytest.fixture(scope="module")
def env(vm_env, release):
    e = vm_env("gcs", data_disk=True)
    e.v1 = e.bucket.publish("v1", release)
    return e


@pytest.fixture(scope="module")
def vm(env):
    m = env.machine()
    m.boot()
    m.boot_state = m.wait_running()
    return m


def test_first_boot_reaches_running(vm):
    assert vm.boot_state == "running", vm.run("systemctl", "--failed", "--no-pager").stdout


def test_installed_with_the_service_account_token(vm, env):
    assert vm.installed() == f"v1 {env.v1}"
    reqs = env.cloud.requests()
    assert any(r["path"].endswith("/service-accounts/default/token") and r["status"] == 200 for r in reqs)
    ok = [r["path"] for r in reqs if r.get("server") == "bucket" and r["status"] == 200]
    assert any("/o/shipshape%2Fcurrent.json?alt=media" in p for p in ok), ok
    assert any(f"/o/shipshape%2Freleases%2Fv1%2Fshipshape-linux-{vmlib.ARCH}.sig?alt=media" in p for p in ok), ok
    assert not [r for r in reqs if r.get("server") == "bucket" and r["status"] != 200]
    vm.wait_hello()


def test_database_is_on_the_data_disk(vm):
    mounts = vm.run("findmnt", "--noheadings", "--output", "SOURCE,FSTYPE", "/var/lib/private/shipshape").stdout.split()
    assert mounts == ["/dev/shipshape-data", "ext4"], mounts
    assert vm.run("test", "-f", "/var/lib/private/shipshape/shipshape.db", check=False).returncode == 0


def test_users_survive_a_release(vm, env, release):
    code, body = vm.http("POST", "/api/users/", {"dni": "87654321", "name": "Data Disk"})
    assert code == 201, body
    env.user_id = json.loads(body)["id"]
    env.v2 = env.bucket.publish("v2", release.read_bytes() + b"\n# release v2\n")
    # The timer (every minute, with jitter) picks the pointer up by itself: no push, no SSH.
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and vm.installed() != f"v2 {env.v2}":
        time.sleep(2)
    assert vm.installed() == f"v2 {env.v2}", "the release timer did not install v2 within 150 s"
    assert vm.http("GET", f"/api/users/{env.user_id}/")[0] == 200, "the user was lost by the release"


def test_users_survive_a_replacement_of_the_vm(vm, env):
    vm.run("systemctl", "poweroff", check=False)
    assert vm.wait_stopped() == 0
    vm.destroy()
    # The replacement: a new instance from a fresh image, same data disk, same pointer.
    new = env.machine()
    new.boot()
    assert new.wait_running() == "running"
    assert new.instance_id != vm.instance_id
    assert new.installed() == f"v2 {env.v2}"
    log = new.file("/var/log/cloud-init-output.log").read_text()
    assert "holds ext4; keeping it" in vmlib.sh("journalctl", "--no-pager", f"--directory={new.file('/var/log/journal')}",
                                                "-u", "shipshape-data-format.service", "-o", "cat").stdout + log
    assert new.http("GET", f"/api/users/{env.user_id}/")[0] == 200, "the user was lost with the VM"
    new.stop()
