"""The AWS path in a booted Debian 12: the VM reads the release pointer from S3 with its instance
profile (IMDSv2 + SigV4), installs, serves, survives kill -9 and reboots, releases in place with no
failed request, rolls a bad release back by itself, refuses a tampered one, and powers off cleanly.
Tests run in file order on one machine (module scope), each one check."""
from __future__ import annotations

import json
import time

import pytest

import vmlib

SCORE_BUDGET = 2.0
BAD_RELEASE = b"#!/bin/sh\necho 'this release cannot serve' >&2\nexit 3\n"


@pytest.fixture(scope="module")
def env(vm_env, release):
    e = vm_env("s3")
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


def test_cloud_init_done_without_errors(vm):
    r = vm.run("cloud-init", "status", "--wait", "--long", check=False)
    assert r.returncode == 0 and "status: done" in r.stdout, r.stdout + r.stderr
    assert "errors: []" in r.stdout.replace("\n", " ") or "errors:" not in r.stdout, r.stdout


def test_installed_the_pointers_release_with_the_instance_identity(vm, env):
    assert vm.installed() == f"v1 {env.v1}"
    reqs = env.cloud.requests()
    assert any(r.get("path") == "/latest/api/token" and r.get("method") == "PUT" for r in reqs), "no IMDSv2 token"
    got = [r["path"] for r in reqs if r.get("server") == "bucket" and r.get("status") == 200]
    for suffix in ("current.json", "releases/v1/shipshape-linux-%s" % vmlib.ARCH,
                   "releases/v1/shipshape-linux-%s.sha256" % vmlib.ARCH, "releases/v1/shipshape-linux-%s.sig" % vmlib.ARCH):
        assert any(p.endswith(suffix) for p in got), f"{suffix} not read with a valid SigV4 signature: {got}"
    assert not [r for r in reqs if r.get("rejected")], "a request was rejected by the bucket"


def test_units_enabled_and_active(vm):
    for unit in ("shipshape.socket", "shipshape.service", "shipshape-release.timer"):
        assert vm.run("systemctl", "is-enabled", unit).stdout.strip() == "enabled", unit
        assert vm.run("systemctl", "is-active", unit).stdout.strip() == "active", unit


def test_hello_on_port_80(vm):
    vm.wait_hello()
    assert vm.http("GET", "/hello") == (200, vmlib.GREETING)


def test_process_has_no_root_and_no_capability(vm):
    pid = vm.main_pid()
    status = dict(line.split(":", 1) for line in vm.run("cat", f"/proc/{pid}/status").stdout.splitlines() if ":" in line)
    for key in ("Uid", "Gid"):
        assert all(int(x) != 0 for x in status[key].split()), f"{key}: {status[key]}"
    for key in ("CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"):
        assert status[key].strip() == "0000000000000000", f"{key} = {status[key].strip()}: socket activation needs none"
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"


def test_listening_socket_comes_from_systemd(vm):
    env = vm.run("cat", f"/proc/{vm.main_pid()}/environ").stdout.split("\0")
    assert "LISTEN_FDS=1" in env, "the service did not get the socket from shipshape.socket"


def test_exposure_score_within_budget(vm):
    out = vm.run("systemd-analyze", "security", "--no-pager", "shipshape.service", check=False).stdout
    line = [ln for ln in out.splitlines() if "Overall exposure level for shipshape.service" in ln]
    assert line, out
    score = float(line[0].split(":")[1].split()[0])
    print(f"exposure score {score}")
    assert score <= SCORE_BUDGET, out


def test_kill_9_restarts_the_service(vm):
    old = vm.main_pid()
    vm.run("kill", "-9", str(old))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        new = vm.main_pid()
        if new and new != old and vm.http("GET", "/hello") == (200, vmlib.GREETING):
            return
        time.sleep(0.2)
    raise AssertionError("no new main process serving within 15 s")


def test_create_a_user(vm, env):
    code, body = vm.http("POST", "/api/users/", {"dni": "12345678", "name": "Boot Test"})
    assert code == 201, body
    env.user_id = json.loads(body)["id"]
    assert vm.http("GET", f"/api/users/{env.user_id}/")[0] == 200


def test_release_in_place_fails_no_request(vm, env, release):
    env.v2 = env.bucket.publish("v2", release.read_bytes() + b"\n# release v2\n")
    old_pid = vm.main_pid()
    with vmlib.RequestLoop(vm) as load:
        r = vm.run("/usr/local/sbin/shipshape-release", "deploy", check=False)
        time.sleep(1)
    print(f"requests during the release: {load.ok} ok, {len(load.failures)} failed")
    assert r.returncode == 0, r.stdout + r.stderr
    assert vm.installed() == f"v2 {env.v2}"
    assert vm.main_pid() != old_pid, "the service was not restarted on the new binary"
    assert load.ok > 0 and not load.failures, load.failures[:5]


def test_bad_release_rolls_back_and_service_never_down(vm, env):
    bad = env.bucket.publish("v3", BAD_RELEASE)
    with vmlib.RequestLoop(vm) as load:
        r = vm.run("/usr/local/sbin/shipshape-release", "deploy", check=False)
    print(f"requests during the bad release: {load.ok} ok, {len(load.failures)} failed")
    assert r.returncode != 0, "a release that never became ready was reported as deployed"
    assert "rolling back" in r.stdout + r.stderr and "refused" in r.stdout + r.stderr, r.stdout + r.stderr
    assert vm.installed() == f"v2 {env.v2}", "not rolled back to v2"
    assert vm.http("GET", "/hello") == (200, vmlib.GREETING)
    assert load.ok > 0 and not load.failures, load.failures[:5]
    # The timer does not retry a refused release (and fails loudly while the pointer names it).
    r = vm.run("/usr/local/sbin/shipshape-release", "poll", check=False)
    assert r.returncode != 0 and "refused on this VM before" in r.stdout + r.stderr
    assert bad in vm.run("ls", "/var/lib/shipshape-release/refused").stdout


def test_tampered_release_refused_even_with_replaced_checksums(vm, env, release):
    env.bucket.publish("v4", release.read_bytes() + b"\n# release v4\n")
    tampered = env.bucket.tamper("v4")  # binary, .sha256 and pointer all agree; the signature cannot
    before = vm.run("sha256sum", "/usr/local/bin/shipshape").stdout
    r = vm.run("/usr/local/sbin/shipshape-release", "deploy", check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "signature verification FAILED" in out and "nothing installed" in out, out
    assert vm.run("sha256sum", "/usr/local/bin/shipshape").stdout == before, "the tampered binary was installed"
    assert tampered not in before
    assert vm.installed() == f"v2 {env.v2}"
    assert vm.http("GET", "/hello") == (200, vmlib.GREETING)


def test_rollback_by_pointer(vm, env):
    # The pipeline's rollback moves the pointer back; the VM follows it.
    env.bucket.point("v1", env.v1)
    r = vm.run("/usr/local/sbin/shipshape-release", "deploy", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert vm.installed() == f"v1 {env.v1}"


def test_reboot_keeps_the_user_and_does_not_reinstall(vm, env):
    log = vm.file("/var/log/cloud-init-output.log")
    installs = log.read_text().count("shipshape-release: installed release")
    boot_id = vm.run("cat", "/proc/sys/kernel/random/boot_id").stdout
    vm.run("systemctl", "reboot", check=False)
    vm.wait_init(1, timeout=60)
    assert vm.exits[0] == 133, f"nspawn exited {vm.exits[0]} on reboot"
    assert vm.wait_running() == "running"
    vm.wait_hello()
    assert vm.run("cat", "/proc/sys/kernel/random/boot_id").stdout != boot_id
    assert log.read_text().count("shipshape-release: installed release") == installs, "installed again on reboot"
    assert vm.http("GET", f"/api/users/{env.user_id}/")[0] == 200, "the user was lost across the reboot"


def test_poweroff_stops_the_service_cleanly(vm):
    boot = vm.run("cat", "/proc/sys/kernel/random/boot_id").stdout.strip().replace("-", "")
    vm.run("systemctl", "poweroff", check=False)
    assert vm.wait_stopped() == 0, f"nspawn exits {vm.exits}"
    journal = vmlib.sh("journalctl", "--no-pager", f"--directory={vm.file('/var/log/journal')}",
                       f"--boot={boot}", "--unit=shipshape.service", "-o", "cat").stdout
    assert "shipshape.service: Deactivated successfully" in journal, journal[-2000:]
    for bad in ("timed out", "code=killed", "Failed with result"):
        assert bad not in journal, journal[-2000:]
