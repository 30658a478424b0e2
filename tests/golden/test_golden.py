"""Golden files: valid specs with their canonical text and JSON, invalid specs with their exact errors.

Each input in ``valid/`` has ``NAME.expected.adapt`` (what ``adaptgraph fmt`` prints, comments
included) and ``NAME.expected.json`` (the data form, which has no comments); each input in ``invalid/`` has ``NAME.expected.txt``
(the exact error text a user sees). Regenerate with ``ADAPTGRAPH_REGEN_GOLDEN=1`` and read
every changed message before committing it: a poor message is fixed in the code, not here.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import adaptgraph.spec as S
from adaptgraph.errors import AdaptGraphError

HERE = Path(__file__).parent
REGEN = os.environ.get("ADAPTGRAPH_REGEN_GOLDEN") == "1"
INPUT_SUFFIXES = (".adapt", ".yaml", ".yml", ".json")
MIN_INVALID_CASES = 30


def _inputs(kind: str) -> list[Path]:
    return sorted(p for p in (HERE / kind).iterdir()
                  if p.name.endswith(INPUT_SUFFIXES) and ".expected." not in p.name)


def _expected(src: Path, suffix: str) -> Path:
    return src.parent / f"{src.name.split('.')[0]}.expected.{suffix}"


def _compare(path: Path, actual: str) -> None:
    if REGEN:
        path.write_bytes(actual.encode("utf-8"))
        return
    assert path.exists(), f"{path.name} is missing; create it with ADAPTGRAPH_REGEN_GOLDEN=1"
    assert actual == path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("src", _inputs("valid"), ids=lambda p: p.name)
def test_valid_spec_prints_its_golden_canonical_text_and_json(src: Path, monkeypatch):
    monkeypatch.chdir(src.parent)
    spec, comments = S.load_with_comments(src.name)
    assert S.load(src.name) == spec
    canonical = S.dumps(spec, comments=comments)
    _compare(_expected(src, "adapt"), canonical)
    _compare(_expected(src, "json"), S.dumps(spec, format="json"))
    again, kept = S.loads_with_comments(canonical)
    assert again == spec  # the golden text means the same spec ...
    assert S.dumps(again, comments=kept) == canonical  # ... and is a fixed point of fmt


@pytest.mark.parametrize("src", _inputs("invalid"), ids=lambda p: p.name)
def test_invalid_spec_reports_its_golden_error_text(src: Path, monkeypatch):
    monkeypatch.chdir(src.parent)
    with pytest.raises(AdaptGraphError) as info:
        S.load(src.name)
    _compare(_expected(src, "txt"), info.value.format() + "\n")
    for problem in info.value.problems:  # every problem says where: file:line:col
        assert problem.span is not None and problem.span.file == src.name, problem


def test_there_are_enough_invalid_cases():
    assert len(_inputs("invalid")) >= MIN_INVALID_CASES


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_every_golden_file_belongs_to_an_input(kind: str):
    stems = {p.name.split(".")[0] for p in _inputs(kind)}
    orphans = [p.name for p in (HERE / kind).iterdir() if ".expected." in p.name
               and p.name.split(".")[0] not in stems]
    assert not orphans, f"golden files without an input: {orphans}"
