"""The accelerator-sized script of issue 22 (``benchmarks/paper/equal_compute_gpu.sh``) cannot run here: at
least every command in it must be one its script accepts, flag by flag."""
import importlib
import re
import shlex
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "paper" / "equal_compute_gpu.sh"


def commands() -> list[tuple[str, list[str]]]:
    text = SCRIPT.read_text().replace("\\\n", " ")
    found = re.findall(r"^python -m benchmarks\.paper\.(\w+) (.*)$", text, re.M)
    return [(name, [a for a in shlex.split(args) if a != "$@"]) for name, args in found]


def parser_of(name: str):
    module = importlib.import_module(f"benchmarks.paper.{name}")
    if hasattr(module, "flags"):
        return module.flags()
    return importlib.import_module("benchmarks.paper.common").parser(module.__doc__)


def test_the_script_runs_each_step_of_issue_22():
    assert [name for name, _ in commands()] == ["equal_compute", "planted", "report"]


@pytest.mark.parametrize("name,argv", commands(), ids=[name for name, _ in commands()])
def test_every_flag_of_the_gpu_script_is_accepted(name, argv):
    args = parser_of(name).parse_args(argv)
    if name != "report":
        assert args.device == "cuda"
    if name == "planted":
        assert set(args.methods) == {"scores", "hyperband", "trained"}
