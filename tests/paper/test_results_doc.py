"""docs/results.md is exactly what report.py writes from the committed CSVs, and the README quotes its headline.

So no number in the results page or in the README's headline can be edited by hand or
go stale: changing a CSV without regenerating the page, or the page without the README,
fails here.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from benchmarks.paper import report

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "results.md"


def _written_by(text: str) -> list[str]:
    """The arguments of the report.py command the page says wrote it."""
    m = re.search(r"Written by `(python -m benchmarks\.paper\.report[^`]*)`", text)
    assert m, "docs/results.md does not say which command wrote it"
    return shlex.split(m.group(1))[3:]


def test_results_page_is_what_the_committed_csvs_give(monkeypatch):
    text = DOC.read_text()
    monkeypatch.chdir(ROOT)  # the page's paths are relative to the repository root
    argv = _written_by(text)
    assert report.render(report.common.parse(report.__doc__, argv), argv) == text


def test_readme_links_the_results_and_quotes_their_headline():
    line = next((x for x in DOC.read_text().splitlines() if x.startswith(report.HEADLINE)), None)
    assert line, "docs/results.md has no headline"
    readme = (ROOT / "README.md").read_text()
    assert "(docs/results.md)" in readme
    assert line[len(report.HEADLINE):].strip() in readme
