"""Every command's --help: a description paragraph, examples where it has them, and the page that documents it."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from adaptgraph.cli import build_parser
from adaptgraph.cli.parser import DOCS

ROOT = Path(__file__).resolve().parents[2]
PARSER = build_parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_describes_itself_and_names_its_docs(command, capsys):
    assert COMMANDS[command].description, f"`adaptgraph {command} --help` has no description paragraph"
    text = _help([command], capsys)
    page = DOCS.get(command)
    assert page is not None, f"name the page documenting `{command}` in adaptgraph.cli.parser.DOCS"
    assert text.rstrip().endswith(f"documentation: {page}")
    assert (ROOT / page).is_file()
    assert f"adaptgraph {command}" in (ROOT / page).read_text()  # the page shows the command


def test_descriptions_are_wrapped_and_examples_kept_as_written(capsys):
    text = _help(["score"], capsys)
    assert max(len(line) for line in text.split("examples:")[0].splitlines()) <= 100
    assert "\n  adaptgraph score hf:minilm --task 'wordnet:noun?per_class=50' --out runs/minilm_scores\n" in text


def test_the_top_level_help_points_to_the_readme(capsys):
    text = _help([], capsys)
    assert " ".join(text.split()).endswith("documentation: README.md (its Documentation section lists every page "
                                           "under docs/)")
