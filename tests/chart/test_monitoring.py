"""The monitoring assets: the alert rules (promtool, the real Prometheus tool) and the Grafana
dashboard (structure, every query parses as PromQL, every metric is one the service exports)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/helm/shipshape/files/prometheus-rules.yaml"
RULE_TESTS = ROOT / "deploy/monitoring/tests/prometheus-rules.test.yaml"
DASHBOARD = ROOT / "deploy/monitoring/shipshape-dashboard.json"
# What src/ exports (telemetry.rs, routes/ops.rs), plus Prometheus's own `up`.
APP_METRICS = {
    "http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count", "http_requests_in_flight", "shipshape_db_pool_connections",
    "shipshape_db_pool_max_connections", "shipshape_build_info", "up",
}


def promtool() -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool not on PATH (scripts/chart-check.sh installs Debian's prometheus package)"
    return tool


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_rules():
    res = run("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_unit_tests():
    res = run("test", "rules", str(RULE_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_catches_a_broken_rule(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(RULES.read_text().replace("> (14.4 * 0.001)", "> (14.4 * 0.001", 1))
    assert run("check", "rules", str(bad)).returncode != 0


def test_unit_tests_catch_a_wrong_threshold(tmp_path):
    # The unit tests pin behaviour: a fast-burn threshold ten times too high must fail them.
    rules = tmp_path / "helm/shipshape/files/prometheus-rules.yaml"
    rules.parent.mkdir(parents=True)
    rules.write_text(RULES.read_text().replace("> (14.4 * 0.001)", "> (144 * 0.001)"))
    tests = tmp_path / "monitoring/tests/prometheus-rules.test.yaml"
    tests.parent.mkdir(parents=True)
    tests.write_text(RULE_TESTS.read_text())
    assert run("test", "rules", str(tests)).returncode != 0


def dashboard_queries(dash: dict) -> list[str]:
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def check_dashboard(dash: dict) -> None:
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    assert {v["name"] for v in dash["templating"]["list"]} >= {"datasource", "namespace"}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in dash["panels"]:
        assert p["type"] in {"timeseries", "table", "stat", "gauge"}, p["type"]
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]) and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert p.get("targets"), f"panel {p['title']} has no query"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
    for expr in dashboard_queries(dash):
        # Grafana's variables are substituted before the query reaches Prometheus.
        concrete = expr.replace("$__rate_interval", "5m").replace("$namespace", "shipshape")
        ast = promql_parser.parse(concrete)  # raises on a syntax error
        names = set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\s*\{", concrete))
        assert names, f"no metric in {expr}"
        unknown = names - APP_METRICS
        assert not unknown, f"the service exports no {sorted(unknown)} ({expr})"
        assert ast is not None


def test_dashboard_is_valid():
    check_dashboard(json.loads(DASHBOARD.read_text()))


@pytest.mark.parametrize("mutation", ["syntax", "unknown-metric", "overflow"])
def test_dashboard_check_catches(mutation):
    dash = json.loads(DASHBOARD.read_text())
    target = dash["panels"][0]
    if mutation == "syntax":
        target["targets"][0]["expr"] = "sum(rate(http_requests_total[5m]"
    elif mutation == "unknown-metric":
        target["targets"][0]["expr"] = "sum(rate(http_server_requests_seconds_count{job=\"x\"}[5m]))"
    else:
        target["gridPos"]["x"] = 20
    with pytest.raises((AssertionError, ValueError)):
        check_dashboard(dash)
