"""The README's two commands: CI runs exactly its test command, and its links and specs exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def test_first_two_blocks_are_setup_plus_main_job_and_the_tests():
    main_job, tests = bash_blocks()[:2]
    assert main_job.startswith("bash scripts/setup.sh && ")
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
