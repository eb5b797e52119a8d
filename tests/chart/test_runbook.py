"""Every Prometheus alert of the chart has an entry in docs/runbook-eks.md, and its `runbook_url`
annotation points at a heading that exists there (the anchor GitHub gives that heading). The CloudWatch
alarms of infra/aws/eks are held to the same runbook by tests/infra/test_runbook_eks.py."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "lib"))
from markdown_anchors import anchors, slug  # noqa: E402

RULES = ROOT / "deploy/helm/shipshape/files/prometheus-rules.yaml"
RUNBOOK = ROOT / "docs/runbook-eks.md"
RUNBOOK_PATH = "docs/runbook-eks.md"


def alert_problems(rules: str, runbook: str) -> list[str]:
    """What is wrong between the alert rules and the runbook; empty when every alert has its entry."""
    have = anchors(runbook)
    problems = []
    for group in yaml.safe_load(rules)["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = rule["alert"]
            url = rule.get("annotations", {}).get("runbook_url", "")
            path, _, anchor = url.partition("#")
            if path != RUNBOOK_PATH or not anchor:
                problems.append(f"{name}: runbook_url {url!r} is not {RUNBOOK_PATH}#<heading>")
            elif anchor not in have:
                problems.append(f"{name}: runbook_url anchor #{anchor} is no heading of {RUNBOOK_PATH}")
            if slug(name) not in have:
                problems.append(f"{name}: {RUNBOOK_PATH} has no heading '## {name}'")
    return problems


def test_slug_is_githubs():
    assert slug("ShipshapeServiceUnhealthy (CloudWatch, us-east-1)") == "shipshapeserviceunhealthy-cloudwatch-us-east-1"
    assert slug("`shipshape-db-cpu`") == "shipshape-db-cpu"
    assert anchors("# Title\n```sh\n# not a heading\n```\n## ShipshapeX\n") == {"title", "shipshapex"}


def test_every_alert_points_at_its_runbook_heading():
    assert alert_problems(RULES.read_text(), RUNBOOK.read_text()) == []


NEW_ALERT = """
      - alert: ShipshapeCertificateExpiring
        expr: vector(1)
        annotations:
          summary: new alert nobody wrote a runbook entry for
          runbook_url: "docs/runbook-eks.md#shipshapecertificateexpiring"
"""


def test_a_new_alert_without_runbook_entry_fails():
    rules = yaml.safe_load(RULES.read_text())
    first_group = rules["groups"][0]
    first_group["rules"].append(yaml.safe_load(NEW_ALERT)[0])
    problems = alert_problems(yaml.safe_dump(rules), RUNBOOK.read_text())
    assert any(p.startswith("ShipshapeCertificateExpiring:") for p in problems), problems


def test_a_dangling_runbook_url_fails():
    # The runbook renames a heading; the alert still points at the old anchor.
    runbook = RUNBOOK.read_text().replace("## ShipshapeLatencyP99High", "## Latency p99 too high", 1)
    problems = alert_problems(RULES.read_text(), runbook)
    assert any("ShipshapeLatencyP99High: runbook_url anchor" in p for p in problems), problems


def test_a_runbook_url_elsewhere_fails():
    rules = RULES.read_text().replace('"docs/runbook-eks.md#shipshapescrapemissing"', '"https://example.com/runbook"', 1)
    problems = alert_problems(rules, RUNBOOK.read_text())
    assert any(p.startswith("ShipshapeScrapeMissing: runbook_url") for p in problems), problems
