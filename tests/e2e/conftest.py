"""Shared base of the e2e suites (tests/e2e/<suite>/conftest.py add their own fixtures).

- JUnit XML to out/junit/e2e-<suite>.xml unless --junitxml is given (CircleCI store_test_results).
- A test's failure report carries the diagnostics its fixtures attached (``diagnose``).
- ``habitat.require`` in each suite's session fixture: a missing tool is one line, exit 4.
- ``measure(name, text)``: a number worth reading (sizes, times, RSS) goes to the JUnit properties and
  to a "measured" section at the end of the run, passed tests included.
"""
from __future__ import annotations

import pytest

from habitat import MEASURED, OUT


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not config.option.xmlpath:
        args = [a for a in config.args if not a.startswith("-")]
        suite = "e2e"
        if args:
            parts = [p for p in args[0].replace("\\", "/").split("/") if p and "::" not in p]
            if "e2e" in parts and parts.index("e2e") + 1 < len(parts):
                suite = "e2e-" + parts[parts.index("e2e") + 1].split(".py")[0]
        (OUT / "junit").mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(OUT / "junit" / f"{suite}.xml")


@pytest.fixture
def measure(record_property):
    def record(name: str, text: str) -> None:
        MEASURED.append(f"{name}: {text}")
        record_property(name, text)

    return record


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured")
        for line in MEASURED:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def failed(request) -> bool:
    """True when the requesting test failed (for finalizers that dump diagnostics)."""
    rep = getattr(request.node, "rep_call", None)
    return bool(rep and rep.failed)





@pytest.fixture
def diagnose(request):
    """diagnose(title, fn): on failure of this test, print fn()'s text under title in the report."""
    hooks = []
    yield lambda title, fn: hooks.append((title, fn))
    if failed(request):
        for title, fn in hooks:
            try:
                text = fn()
            except Exception as exc:  # diagnostics must never hide the failure itself
                text = f"(could not collect: {exc})"
            print(f"---- {title} ----\n{text}")
