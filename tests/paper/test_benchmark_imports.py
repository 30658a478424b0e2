"""Benchmarks use adaptgraph's public API only: every name they import from it is one it exports.

Exported means listed in the ``__all__`` of ``adaptgraph`` or of one of its direct modules
or subpackages (``adaptgraph.searcher``, ``adaptgraph.tasks``, ``adaptgraph.compiler``, ...).
A benchmark that reaches deeper (``adaptgraph.searcher.trial``) or takes an unlisted name
breaks when the package moves its internals around, as issue 11 did.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# scripts that time the steps inside one stage, so they must name them; each with the reason
INTERNALS = {"score_rank_stages.py": "times each step of the rank stage (factors, cores, Grams, lambda_max, LDL)",
             "score_pencil_precision.py": "counts with the pencil's own matrices at thresholds around each singular value"}
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").rglob("*.py") if p.name not in INTERNALS)


def imported(path: Path) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` for every name ``path`` takes from adaptgraph (``import adaptgraph`` and
    ``adaptgraph.NAME`` attribute uses included)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "adaptgraph":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, "") for a in node.names if a.name.startswith("adaptgraph.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "adaptgraph":
            found.append((node.lineno, "adaptgraph", node.attr))
    return found


def problem(module: str, name: str) -> str | None:
    if module.count(".") > 1:
        return f"{module} is not a module of adaptgraph's public API (import from {'.'.join(module.split('.')[:2])})"
    exported = getattr(importlib.import_module(module), "__all__", None)
    if exported is None:
        return f"{module} has no __all__"
    if name and name not in exported:
        return f"{name} is not in {module}.__all__"
    return None


def test_there_are_benchmarks():
    assert ROOT / "benchmarks" / "paper" / "runstore.py" in SCRIPTS
    assert all((ROOT / "benchmarks" / name).exists() for name in INTERNALS)  # no stale exception


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_benchmarks_import_only_exported_names(path):
    problems = [f"{path.relative_to(ROOT)}:{line}: {why}" for line, module, name in imported(path)
                if (why := problem(module, name))]
    assert not problems, "\n".join(problems)
