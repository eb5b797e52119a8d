"""A first boot whose release was tampered with (binary, checksum file and pointer replaced to agree):
the install fails loudly (cloud-init error, degraded system) and nothing is installed or listening."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def vm(vm_env, release):
    env = vm_env("s3")
    env.bucket.publish("v1", release)
    env.bucket.tamper("v1")
    m = env.machine()
    m.boot()
    m.boot_state = m.wait_running()
    return m


def test_system_is_degraded(vm):
    assert vm.boot_state == "degraded"


def test_cloud_init_reports_the_error(vm):
    r = vm.run("cloud-init", "status", "--wait", "--long", check=False)
    assert r.returncode != 0 and "status: error" in r.stdout, r.stdout
    assert vm.run("systemctl", "is-failed", "--quiet", "cloud-final.service", check=False).returncode == 0


def test_the_log_names_the_refusal(vm):
    log = vm.file("/var/log/cloud-init-output.log").read_text()
    assert "signature verification FAILED" in log and "nothing installed" in log, log[-3000:]


def test_nothing_installed_nothing_listening(vm):
    assert not vm.file("/usr/local/bin/shipshape").exists(), "the tampered binary was installed"
    for unit in ("shipshape.socket", "shipshape.service"):
        assert vm.run("systemctl", "is-enabled", unit, check=False).stdout.strip() == "disabled", unit
        assert vm.run("systemctl", "is-active", unit, check=False).stdout.strip() == "inactive", unit
    assert vm.http("GET", "/hello")[0] == 0, "something answers on port 80 after a refused install"


def test_release_timer_keeps_watching_the_pointer(vm):
    assert vm.run("systemctl", "is-enabled", "shipshape-release.timer").stdout.strip() == "enabled"
