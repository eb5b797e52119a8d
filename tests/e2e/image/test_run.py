"""The image run as users will: read-only, no capabilities, its own non-root USER, a named volume on
/data, no network but loopback (probes enter the container's network namespace)."""
import re
import time

import pytest

from imagelib import GRACE_SECS, dni, json_body, probe
from habitat import free_port, run

GREETING = "Hello World from BenchSci!"


@pytest.fixture
def app(containers, image):
    """A hardened SQLite-mode container on a fresh named volume, ready."""
    volume = containers.volume("data")
    ctr = containers.run("sqlite", image.tag, "--network", "none", "-v", f"{volume}:/data")
    took = ctr.wait_ready()
    print(f"ready {took:.2f} s after `run` returned")
    ctr.volume = volume
    return ctr


def proc_status(pid: int) -> str:
    return open(f"/proc/{pid}/status").read()


def test_runs_unprivileged_with_loopback_only(app):
    status = proc_status(app.pid)
    assert re.search(r"^Uid:\s+65532\s+65532\s+65532\s+65532$", status, re.M), "process UIDs are not 65532"
    assert re.search(r"^Gid:\s+65532\s+65532\s+65532\s+65532$", status, re.M), "process GIDs are not 65532"
    assert re.search(r"^CapEff:\s+0{16}$", status, re.M), "effective capabilities are not empty"
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), "NoNewPrivs is not set"
    links = run(["nsenter", "-t", str(app.pid), "-n", "ip", "-o", "link", "show"]).stdout
    assert [ln.split(": ")[1].split("@")[0] for ln in links.splitlines()] == ["lo"], links


def test_hello(app):
    status, ctype, body = app.get("/hello")
    assert (status, body) == (200, GREETING)
    assert ctype.startswith("text/html"), ctype


def test_users_api(app):
    d = dni()
    status, _, body = app.call("POST", "/api/users/", data=f'{{"dni":"{d}","name":"Image Test"}}')
    assert status == 201, body
    uid = json_body(body)["id"]
    assert app.get(f"/api/users/{uid}/") == (200, "application/json", f'{{"id":{uid},"dni":"{d}","name":"Image Test"}}')
    status, _, body = app.get("/api/users/")
    assert status == 200 and f'"dni":"{d}"' in body


def test_version_reports_the_build(app, image):
    status, _, body = app.get("/version")
    assert status == 200 and image.args["SHIPSHAPE_REVISION"] in body, body


def test_smoke_from_inside(app):
    proc = app.exec("/usr/local/bin/shipshape", "smoke", "--base-url", "http://127.0.0.1:8000", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_healthcheck(app, engine):
    assert engine.healthcheck(app.name), "the image's HEALTHCHECK did not report healthy"
    # The same command must fail when nothing answers, or the check proves nothing.
    proc = app.exec("/usr/local/bin/shipshape", "healthcheck", "--url", "http://127.0.0.1:9/healthz", check=False)
    assert proc.returncode != 0, "healthcheck exits 0 against a closed port"


def test_graceful_stop(app, engine, measure):
    """SIGTERM: readiness turns 503 while requests are still served, in-flight work ends, exit 0."""
    t0 = time.monotonic()
    stopper = engine.stop_async(app.name, GRACE_SECS)
    pid = app.pid
    seen = {}
    while stopper.poll() is None and time.monotonic() - t0 < GRACE_SECS:
        if probe(pid, "GET", "/readyz")[0] == 503:
            seen["hello"] = probe(pid, "GET", "/hello")[0]
            break
        time.sleep(0.05)
    stopper.wait(GRACE_SECS + 10)
    took = time.monotonic() - t0
    state = engine.state(app.name)
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} (137: killed after the grace period)"
    assert took < GRACE_SECS, f"stop took {took:.1f} s"
    assert seen, "/readyz never answered 503 during the drain"
    assert seen["hello"] == 200, "/hello was not served during the drain"
    assert re.search("drain", engine.logs(app.name, 200), re.I), "no drain message in the logs"
    measure("graceful stop", f"{took:.1f} s to exit 0 (grace {GRACE_SECS} s), /readyz 503 while /hello answered 200")


def test_data_survives_restart_and_new_container(app, engine, containers, image):
    d = dni()
    status, _, body = app.call("POST", "/api/users/", data=f'{{"dni":"{d}","name":"Persist"}}')
    assert status == 201, body
    uid = json_body(body)["id"]
    engine("stop", "-t", str(GRACE_SECS), app.name)
    engine("start", app.name)
    app.wait_ready()
    assert app.get(f"/api/users/{uid}/")[0] == 200, "user gone after a restart"
    engine("rm", "-f", app.name)
    again = containers.run("sqlite-2", image.tag, "--network", "none", "-v", f"{app.volume}:/data")
    again.wait_ready()
    status, _, body = again.get(f"/api/users/{uid}/")
    assert status == 200 and f'"dni":"{d}"' in body, "user gone in a new container on the same volume"


def test_names_resolve_in_the_static_image(containers, image, dns_server):
    """The binary's own libc resolves host names: /etc/hosts (files) and DNS (a server on loopback that
    only this test knows), as the PostgreSQL host name of a real deployment needs."""
    port = free_port()
    ctr = containers.run("dns", image.tag, "--network", "host", "-e", "BIND_ADDRESS=127.0.0.1",
                         "-e", f"PORT={port}", "-e", "DATABASE_URL=sqlite:///data/dns.db",
                         "-v", f"{containers.volume('dns')}:/data",
                         "--add-host", "files-name.invalid:127.0.0.1",
                         "-v", f"{dns_server.resolv_conf}:/etc/resolv.conf:ro", port=port)
    ctr.wait_ready()
    for host in ("files-name.invalid", "app.shipshape.test"):
        proc = ctr.exec("/usr/local/bin/shipshape", "healthcheck", "--url", f"http://{host}:{port}/healthz", check=False)
        assert proc.returncode == 0, f"{host} did not resolve in the image: {proc.stdout}{proc.stderr}"
    assert any(q.startswith("app.shipshape.test/") for q in dns_server.queries), "the DNS server was never asked"
    proc = ctr.exec("/usr/local/bin/shipshape", "healthcheck", "--url", f"http://nx.example.invalid:{port}/healthz", check=False)
    assert proc.returncode != 0, "an unknown name resolved"

