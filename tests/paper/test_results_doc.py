"""docs/results.md is exactly what report.py writes from the committed CSVs, and the README quotes its headline.

So no number in the results page or in the README's headline can be edited by hand or
go stale: changing a CSV without regenerating the page, or the page without the README,
fails here.
"""
from __future__ import annotations

import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "benchmarks" / "paper"
DOC = ROOT / "docs" / "results.md"
MODULES = ("common", "analysis", "verdicts", "runstore", "placements", "placement_sweep", "map_repeat",
           "gga_vs_baseline", "gga_by_norm", "report")  # report.py and what it imports from benchmarks/paper


@pytest.fixture(scope="module")
def report():
    saved = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    sys.path.insert(0, str(PAPER))
    try:
        yield importlib.import_module("report")
    finally:
        sys.path.remove(str(PAPER))
        for name in MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def _written_by(text: str) -> list[str]:
    """The arguments of the report.py command the page says wrote it."""
    m = re.search(r"Written by `(python benchmarks/paper/report\.py[^`]*)`", text)
    assert m, "docs/results.md does not say which command wrote it"
    return shlex.split(m.group(1))[2:]


def test_results_page_is_what_the_committed_csvs_give(report, monkeypatch):
    text = DOC.read_text()
    monkeypatch.chdir(ROOT)  # the page's paths are relative to the repository root
    argv = _written_by(text)
    assert report.render(report.common.parse(report.__doc__, argv), argv) == text


def test_readme_links_the_results_and_quotes_their_headline(report):
    line = next((x for x in DOC.read_text().splitlines() if x.startswith(report.HEADLINE)), None)
    assert line, "docs/results.md has no headline"
    readme = (ROOT / "README.md").read_text()
    assert "(docs/results.md)" in readme
    assert line[len(report.HEADLINE):].strip() in readme
