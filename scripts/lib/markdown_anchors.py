"""The anchors GitHub renders for the headings of a Markdown document (for the runbook tests:
tests/chart/test_runbook.py, tests/infra/test_runbook_eks.py). No third-party imports."""

from __future__ import annotations

import re


def slug(heading: str) -> str:
    """The anchor of one heading: lower case, punctuation dropped (but `-` and `_`), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors of the document's headings (fenced code blocks skipped: a `# comment` there is no heading)."""
    out, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            out.add(slug(m.group(1)))
    return out
