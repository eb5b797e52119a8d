"""Every CloudWatch alarm infra/aws/eks plans has an entry in docs/runbook-eks.md: its planned
`alarm_name` is written there (in backticks), and its description has a `(runbook: X)` pointer that
names a heading that exists. Read from the planned values of the stack's `defaults` run, so an alarm added by
any means (a new resource, a new key of a for_each map) is seen. The Prometheus alerts are checked in
tests/chart/test_runbook.py."""

from __future__ import annotations

import re

import pytest

from conftest import REPO_ROOT, mutate
from markdown_anchors import anchors, slug  # scripts/lib, on the path through conftest

STACK = "infra/aws/eks"
TEST_FILE = "tests/plan.tftest.hcl"
RUNBOOK = REPO_ROOT / "docs/runbook-eks.md"


def planned_alarms(state: dict) -> dict[str, dict]:
    """address -> values of every aws_cloudwatch_metric_alarm in a run's (mock-applied) state."""
    alarms: dict[str, dict] = {}

    def walk(module: dict) -> None:
        for r in module.get("resources", []):
            if r["type"] == "aws_cloudwatch_metric_alarm":
                alarms[r["address"]] = r.get("values", {})
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", state)["root_module"])
    return alarms


def alarm_problems(alarms: dict[str, dict], runbook: str) -> list[str]:
    have = anchors(runbook)
    problems = []
    for address, alarm in sorted(alarms.items()):
        name = alarm["alarm_name"]
        if f"`{name}`" not in runbook:
            problems.append(f"{address}: docs/runbook-eks.md never names `{name}`")
        refs = re.findall(r"\(runbook: ([^)]+)\)", alarm.get("alarm_description") or "")
        if not refs:
            problems.append(f"{address}: the description has no (runbook: …) pointer for whoever is paged")
        for ref in refs:
            want = slug(ref)
            if not any(a == want or a.startswith(want + "-") for a in have):
                problems.append(f"{address}: description points at runbook '{ref}', no such heading")
    return problems


def run_defaults(terraform_test) -> dict[str, dict]:
    result = terraform_test
    state = result.states.get((TEST_FILE, "defaults"))
    assert state is not None, "the defaults run produced no state:\n" + "\n".join(result.diagnostics)
    return planned_alarms(state)


@pytest.fixture(scope="module")
def alarms(stack_test) -> dict[str, dict]:
    found = run_defaults(stack_test(STACK, TEST_FILE))
    # The stack's database and public-path alarms are all there (a vacuous pass is no pass).
    assert {a["alarm_name"] for a in found.values()} >= {"shipshape-db-cpu", "shipshape-service-unhealthy"}
    return found


def test_every_alarm_has_a_runbook_entry(alarms):
    assert alarm_problems(alarms, RUNBOOK.read_text()) == []


def test_an_alarm_without_a_pointer_fails(alarms):
    address = next(a for a, v in alarms.items() if v["alarm_name"] == "shipshape-db-storage")
    stripped = dict(alarms)
    stripped[address] = dict(alarms[address], alarm_description="Less than 2 GiB of database storage free.")
    assert alarm_problems(stripped, RUNBOOK.read_text()) == [
        f"{address}: the description has no (runbook: …) pointer for whoever is paged"]


def test_a_pointer_to_a_missing_heading_fails(alarms):
    runbook = RUNBOOK.read_text().replace("## ShipshapeServiceUnhealthy", "## The public path is down", 1)
    problems = alarm_problems(alarms, runbook)
    assert any("points at runbook 'ShipshapeServiceUnhealthy'" in p for p in problems), problems


NEW_ALARM = '''resource "aws_cloudwatch_metric_alarm" "alb_latency" {
  alarm_name          = "${var.name}-alb-latency"
  alarm_description   = "ALB target response time above 1 s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 1
}

resource "aws_route53_health_check" "service" {'''


def test_a_new_alarm_without_runbook_entry_fails(terraform, tmp_path):
    root = mutate(tmp_path, {f"{STACK}/monitoring.tf": [('resource "aws_route53_health_check" "service" {', NEW_ALARM)]})
    alarms = run_defaults(terraform.test(root / STACK, filter=TEST_FILE))
    problems = alarm_problems(alarms, RUNBOOK.read_text())
    assert problems == [
        "aws_cloudwatch_metric_alarm.alb_latency: docs/runbook-eks.md never names `shipshape-alb-latency`",
        "aws_cloudwatch_metric_alarm.alb_latency: the description has no (runbook: …) pointer for whoever is paged",
    ], problems
