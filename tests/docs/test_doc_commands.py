"""Every `adaptgraph` command line shown in docs/*.md parses, with values the command accepts.

Running them all would train for hours (the numbers they print are reproduced by benchmarks/);
this catches the commonest rot: a renamed option, a removed choice, a value out of range.
Usage synopses (``[--opt N]``) are skipped; a command shown with the error it gives must give
that error if the error comes from its arguments.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from adaptgraph.cli import build_parser
from adaptgraph.cli.parser import _command_actions
from adaptgraph.cli.number_flags import check_number_flags
from adaptgraph.errors import AdaptGraphError

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHELL_BLOCKS = ("bash", "", "text")
REDIRECTS = (">", "2>", "|", "<")


def _blocks(text: str):
    """The lines of each shell (or untyped) fenced block."""
    block, lang = None, None
    for line in text.splitlines():
        if line.startswith("```"):
            if block is None:
                block, lang = [], line[3:].strip()
            else:
                if lang in SHELL_BLOCKS:
                    yield block
                block = None
        elif block is not None:
            block.append(line)


def _commands():
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for block in _blocks(page.read_text()):
            lines = "\n".join(block).replace("\\\n", " ").splitlines()
            for k, line in enumerate(lines):
                text = line.strip().removeprefix("$ ")
                if not text.startswith(("adaptgraph ", "torchrun ")) or " [--" in text:
                    continue
                after = lines[k + 1].strip() if k + 1 < len(lines) else ""
                for argv in _argvs(shlex.split(text, comments=True)):
                    found.append(pytest.param(argv, after if after.startswith("error:") else None,
                                              id=f"{page.name}: {' '.join(argv)[:70]}"))
    return found


def _argvs(words: list[str]) -> list[list[str]]:
    """The arguments of each `adaptgraph` in a shell line (`a && b`, `torchrun ... -m adaptgraph`, `> file`)."""
    argvs, current = [], None
    for word in words:
        if word in ("&&", ";", "||"):
            current = None
        elif word == "adaptgraph" and current is None:
            current = []
            argvs.append(current)
        elif word.startswith(REDIRECTS):
            current = None
        elif current is not None:
            current.append(word)
    return argvs


@pytest.mark.parametrize("argv, error", _commands())
def test_documented_command_parses(argv, error):
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits with SystemExit(2) and fails the test
    try:
        check_number_flags(_command_actions(parser, args.command), args)
    except AdaptGraphError as e:
        assert error is not None and e.format().splitlines()[0] == error, f"{' '.join(argv)}: {e.format()}"


def test_the_docs_show_commands():
    assert len(_commands()) >= 20
