"""`docker compose up` of compose.yaml, as a developer runs it: PostgreSQL with its generated TLS
certificate, the app connected with sslmode=verify-full, both healthy, a clean stop.

It needs the PostgreSQL image, so it runs wherever base images are pulled (BASE_IMAGES=pull: CircleCI and
GitHub machine runners, a laptop). Where no registry exists (BASE_IMAGES=standin) it is reported as
skipped with that reason -- and with BASE_IMAGES=pull it can never be skipped."""
import os
import time
import urllib.request

import pytest

from habitat import ROOT, free_port, run
from imagelib import dni


@pytest.fixture
def stack(habitat, tmp_path):
    if habitat.base_images != "pull":
        pytest.skip("the PostgreSQL image cannot be pulled where base images are stand-ins (BASE_IMAGES=standin)")
    if habitat.engine.name != "docker":
        pytest.skip("compose needs the Docker engine API; this habitat runs podman")
    project = f"shipshape-e2e-{os.getpid()}"
    port = free_port()
    env = dict(os.environ, SHIPSHAPE_PORT=str(port), COMPOSE_PROJECT_NAME=project)
    cmd = ["docker-compose", "-f", ROOT / "compose.yaml", "-p", project]
    try:
        run([*cmd, "up", "-d", "--build", "--wait", "--wait-timeout", "300"], env=env, timeout=1800)
        yield cmd, env, port
    finally:
        logs = run([*cmd, "logs", "--no-color", "--tail", "40"], env=env, check=False)
        print(logs.stdout[-4000:])
        run([*cmd, "down", "-v", "--timeout", "40"], env=env, check=False, timeout=300)


def test_stack_serves_over_verified_tls(stack):
    cmd, env, port = stack
    base = f"http://127.0.0.1:{port}"
    assert urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200
    req = urllib.request.Request(f"{base}/api/users/", data=f'{{"dni":"{dni()}","name":"Compose"}}'.encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=10).status == 201
    # Every connection of the app's role is encrypted.
    ssl = run([*cmd, "exec", "-T", "postgres", "psql", "-U", "shipshape", "-d", "shipshape", "-XAtc",
               "SELECT DISTINCT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
               "WHERE a.usename = 'shipshape' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"],
              env=env).stdout.split()
    assert ssl == ["t"], f"app connections without TLS: {ssl}"


def test_stack_stops_cleanly(stack):
    cmd, env, _ = stack
    t0 = time.monotonic()
    run([*cmd, "stop", "shipshape"], env=env, timeout=120)
    took = time.monotonic() - t0
    ps = run([*cmd, "ps", "-a", "--format", "{{.Service}} {{.ExitCode}}"], env=env).stdout
    assert "shipshape 0" in ps, f"the app did not exit 0 on stop: {ps}"
    print(f"compose stop: {took:.1f} s")
