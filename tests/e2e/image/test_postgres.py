"""PostgreSQL mode: the image against a real TLS PostgreSQL, verifying its certificate as against RDS
(sslmode=verify-full with the CA mounted read-only), and by host name through DNS."""
import urllib.parse

import pytest

from habitat import free_port, run
from imagelib import GRACE_SECS, dni, json_body


def run_pg_mode(containers, image, url, ca, suffix, *opts):
    port = free_port()
    ctr = containers.run(suffix, image.tag, "--network", "host", "-v", f"{ca}:{ca}:ro",
                         "-e", f"DATABASE_URL={url}", "-e", "BIND_ADDRESS=127.0.0.1", "-e", f"PORT={port}",
                         *opts, port=port)
    ctr.wait_ready()
    return ctr


def psql(url: str, sql: str) -> str:
    return run(["psql", url, "-XAtqc", sql]).stdout.strip()


@pytest.fixture
def pg_app(containers, image, postgres):
    return run_pg_mode(containers, image, postgres.url, postgres.ca, "pg")


def test_users_api_on_postgres_with_verify_full(pg_app, postgres, engine):
    assert "sslmode=verify-full" in postgres.url
    d = dni()
    status, _, body = pg_app.call("POST", "/api/users/", data=f'{{"dni":"{d}","name":"PG Image Test"}}')
    assert status == 201, body
    uid = json_body(body)["id"]
    assert pg_app.get(f"/api/users/{uid}/")[0] == 200
    assert f'"dni":"{d}"' in pg_app.get("/api/users/")[2]
    # The row is in PostgreSQL itself, not in a SQLite file.
    assert psql(postgres.url, f"SELECT name FROM users WHERE dni = '{d}'") == "PG Image Test"
    smoke = pg_app.exec("/usr/local/bin/shipshape", "smoke", "--base-url", f"http://127.0.0.1:{pg_app.port}", check=False)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    engine("stop", "-t", str(GRACE_SECS), pg_app.name)
    assert engine.state(pg_app.name)["ExitCode"] == 0


def test_wrong_ca_is_refused(containers, image, postgres, tmp_path):
    """verify-full means something: with another CA the service does not become ready."""
    other = tmp_path / "other-ca.crt"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the CA",
         "-keyout", tmp_path / "k", "-out", other])
    other.chmod(0o644)
    url = postgres.with_host(urllib.parse.urlsplit(postgres.url).hostname, "verify-full", str(other))
    port = free_port()
    ctr = containers.run("pg-wrong-ca", image.tag, "--network", "host", "-v", f"{other}:{other}:ro",
                         "-e", f"DATABASE_URL={url}", "-e", "BIND_ADDRESS=127.0.0.1", "-e", f"PORT={port}", port=port)
    with pytest.raises(AssertionError):
        ctr.wait_ready(timeout=8)


def test_database_host_name_resolves_through_dns(containers, image, postgres, dns_server):
    """A host name, as RDS gives one: the static binary's resolver asks DNS (the test's server on
    loopback). The name is not in the test certificate, so this connection verifies the CA only."""
    host = f"db-{dni()}.shipshape.test"
    url = postgres.with_host(host, "verify-ca")
    ctr = run_pg_mode(containers, image, url, postgres.ca, "pg-dns",
                      "-v", f"{dns_server.resolv_conf}:/etc/resolv.conf:ro")
    status, _, body = ctr.call("POST", "/api/users/", data=f'{{"dni":"{dni()}","name":"via DNS"}}')
    assert status == 201, body
    assert any(q.startswith(host + "/") for q in dns_server.queries), f"{host} was never asked: {dns_server.queries}"
