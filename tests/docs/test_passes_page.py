"""docs/passes.md's tables say what the code does: every property, and each pipeline's passes in order
with what each requires, ensures and invalidates."""
from __future__ import annotations

import re
from pathlib import Path

from adaptgraph.passes import PLAN_PASSES, TIDY_PASSES, properties

DOC = (Path(__file__).resolve().parents[2] / "docs" / "passes.md").read_text()


def _rows(heading: str) -> list[list[str]]:
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _names(cell: str) -> frozenset[str]:
    return frozenset(re.findall(r"`([^`]+)`", cell))


def test_the_page_lists_every_property_once():
    documented = [_names(row[0]) for row in _rows("The properties")]
    declared = {v for k, v in vars(properties).items() if k.isupper() and isinstance(v, str)}
    assert sorted(next(iter(n)) for n in documented) == sorted(declared)


def test_the_pipeline_tables_match_the_passes():
    for heading, passes in (("Tidying a fresh trace", TIDY_PASSES), ("Applying a plan", PLAN_PASSES)):
        documented = [tuple(_names(cell) for cell in row) for row in _rows(heading)]
        actual = [(frozenset({p.name}), p.requires, p.ensures, p.invalidates) for p in passes]
        assert documented == actual, heading
