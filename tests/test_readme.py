"""The README: its two commands, CI running exactly its test command, its links and specs, and every command in it
run as printed (the cheap ones) or at least parsed (the ones that train for minutes)."""
from __future__ import annotations

import glob
import re
import shlex
import shutil
from pathlib import Path

import pytest

from adaptgraph.cli import build_parser, main
from adaptgraph.cli.parser import _command_actions
from adaptgraph.cli.number_flags import check_number_flags

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# Commands that train MiniLM for minutes: parsed here, run by the people who quote their output (the main job's
# numbers in the README come from its run on 2026-11-29).
LONG = ("train", "eval", "search")


def bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def tour() -> list[str]:
    return next(b for b in bash_blocks() if b.startswith("source ")).splitlines()


def commands() -> list[list[str]]:
    """Every adaptgraph command line of the README's bash blocks, as argv after `adaptgraph`."""
    found = []
    for block in bash_blocks():
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while "&&" in words:  # `bash scripts/setup.sh && .venv/bin/adaptgraph ...`
                words = words[words.index("&&") + 1:]
            if words and words[0] in ("adaptgraph", ".venv/bin/adaptgraph"):
                found.append(words[1:])
    return found


def test_first_two_blocks_are_setup_plus_main_job_and_the_tests():
    main_job, tests = bash_blocks()[:2]
    assert main_job.startswith("bash scripts/setup.sh && .venv/bin/adaptgraph search ")
    assert tests.startswith("bash scripts/setup.sh && ")


def test_ci_runs_exactly_the_readme_test_command():
    tests = bash_blocks()[1]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [tests]


def test_linked_docs_and_named_specs_exist():
    for link in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", README):
        assert (ROOT / link).exists(), link
    for spec in re.findall(r"specs/[\w.]+\.adapt", README):
        assert (ROOT / spec).exists(), spec


def test_the_tour_starts_in_the_environment_the_setup_makes():
    lines = tour()
    assert lines[0].split("#")[0].strip() == "source .venv/bin/activate"
    assert all(line.startswith("adaptgraph ") for line in lines[1:])  # after activating, on the PATH
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "-m venv .venv" in setup and "-e '.[" in setup  # the venv, with adaptgraph's console script
    assert 'adaptgraph = "adaptgraph.cli:main"' in (ROOT / "pyproject.toml").read_text().replace("'", '"')


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_command_parses_with_valid_values(argv):
    expanded = [match for word in argv for match in (sorted(glob.glob(str(ROOT / word))) or [word])]
    parser = build_parser()
    args = parser.parse_args(expanded)  # a usage error exits (SystemExit 2) and fails the test
    check_number_flags(_command_actions(parser, args.command), args)


@pytest.mark.slow
@pytest.mark.hf
def test_the_cheap_tour_commands_run_as_printed(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)  # the README's relative paths, without writing runs/ into the repository
    ran = []
    for line in tour()[1:]:
        argv = shlex.split(line, comments=True)[1:]
        if argv[0] in LONG:
            continue
        argv = [match for word in argv for match in (sorted(glob.glob(word)) or [word])]
        assert main(argv) == 0, line
        ran.append(argv[0])
    assert ran == ["check", "fmt", "points", "compile", "plot", "score", "select"]
    assert (tmp_path / "placement.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "chose 4 edges by gga" in printed
    assert main(["check", "best.adapt"]) == 0  # what select wrote is what train is given next
    capsys.readouterr()
    python = re.search(r"```python\n(.*?)```", README.split("## A tour")[1], re.S).group(1)
    exec(compile(python, "README.md[python]", "exec"), {"__name__": "readme"})
    trainable = int(capsys.readouterr().out)  # print(model.adaptgraph.trainable)
    assert f"trainable parameters: {trainable:,} (" in printed  # what `adaptgraph compile` reported
