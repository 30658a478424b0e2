"""docs/training.md's "A decoder, end to end" runs as written: its python blocks, its spec files and
its commands, in that order, in a fresh folder; the printed lines are the ones its comments claim."""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from adaptgraph.cli import main

pytest.importorskip("peft", reason="the walk-through loads the export with peft")
DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"
SECTION = DOC.read_text().split("## A decoder, end to end")[1].split("\n## ")[0]
BLOCKS = re.findall(r"```(python|adapt|bash)\n(.*?)```", SECTION, re.S)


def _run_python(code: str, label: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, label, "exec"), {"__name__": "docs_example"})
    claimed = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s+# (.*)$", code, re.M)]
    assert out.getvalue().splitlines()[-len(claimed):] == claimed if claimed else True


def test_the_decoder_walkthrough_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert [kind for kind, _ in BLOCKS] == ["python", "adapt", "adapt", "bash", "python"]
    for i, (kind, text) in enumerate(BLOCKS):
        if kind == "python":
            _run_python(text, f"docs/training.md[decoder block {i}]")
        elif kind == "adapt":
            name = text.splitlines()[0].lstrip("# ").strip()
            Path(name).write_text(text)
        else:
            for line in text.strip().splitlines():
                args = shlex.split(line, comments=True)
                assert args[0] == "adaptgraph" and main([*args[1:], *(["--no-progress"] if args[1] in
                                                                        ("train", "eval") else [])]) == 0, line
    printed = capsys.readouterr().out
    assert "nothing trains (no adapters, no `train` modules): the frozen model's numbers" in printed
    assert "saved as LlamaForCausalLM" in printed and "it fits LlamaForCausalLM" in printed
