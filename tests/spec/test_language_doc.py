"""docs/language.md stays true: its examples load, its errors are the exact texts, its
canonical example is canonical, and its YAML/JSON and Python examples run."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import adaptgraph.spec as S
from adaptgraph.errors import AdaptGraphError
from adaptgraph.spec.formats import from_data_text

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
BLOCKS = [(m["info"].strip(), m["body"]) for m in re.finditer(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", DOC,
                                                               re.S | re.M)]


def _blocks(info: str) -> list[int]:
    return [i for i, (tag, _) in enumerate(BLOCKS) if tag == info]


def test_the_doc_has_examples_of_every_kind():
    assert len(_blocks("adapt")) >= 10 and _blocks("adapt error") and _blocks("adapt canonical")
    assert _blocks("yaml") and _blocks("json") and _blocks("python")


@pytest.mark.parametrize("index", _blocks("adapt"))
def test_adapt_example_loads(index):
    spec = S.loads(BLOCKS[index][1], path="example.adapt")
    assert S.loads(S.dumps(spec)) == spec


@pytest.mark.parametrize("index", _blocks("adapt error"))
def test_error_example_prints_the_text_shown_after_it(index):
    assert BLOCKS[index + 1][0] == "text", "an `adapt error` block is followed by its error text"
    with pytest.raises(AdaptGraphError) as info:
        S.loads(BLOCKS[index][1], path="example.adapt")
    assert info.value.format() + "\n" == BLOCKS[index + 1][1]


@pytest.mark.parametrize("index", _blocks("adapt canonical"))
def test_canonical_example_is_what_fmt_prints_for_the_example_before_it(index):
    text = BLOCKS[index][1]
    assert _fmt(text) == text
    assert BLOCKS[index - 1][0] == "adapt"
    assert _fmt(BLOCKS[index - 1][1]) == text


def _fmt(text: str) -> str:
    """What `adaptgraph fmt` prints: the canonical text, comments kept."""
    spec, comments = S.loads_with_comments(text)
    return S.dumps(spec, comments=comments)


@pytest.mark.parametrize("index", _blocks("yaml") + _blocks("json"))
def test_data_example_loads(index):
    tag, body = BLOCKS[index]
    spec = from_data_text(body, f"example.{tag}", tag)
    assert from_data_text(S.dumps(spec, format=tag), f"again.{tag}", tag) == spec


@pytest.mark.parametrize("index", _blocks("python"))
def test_python_example_runs(index, tmp_path, monkeypatch):
    (tmp_path / "specs").symlink_to(ROOT / "specs")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index][1], f"docs/language.md[block {index}]", "exec"), {"__name__": "doc_example"})
    assert S.load("out.adapt.yaml") == S.loads("parallel blocks.0.attn\n", path="inline.adapt")
