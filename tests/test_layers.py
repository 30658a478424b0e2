"""The package's layers import one way: no module imports a later stage (shared/design/architecture.md).

Read from the source with ``ast`` (imports inside functions count too), so a lazy import of a later
stage is caught as well as a top-level one. A new top-level module or subpackage must be given a layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "adaptgraph"

# Lowest first. A unit may import units of earlier layers only, not of its own layer or a later one.
LAYERS = [
    ("errors",),
    ("fileio", "arguments", "progress", "registry"),  # basics over errors only: files, API arguments, progress, registries
    ("spec", "weights"),  # weights: sharing, training and the checks of weight files (read through fileio)
    ("backbones",),
    ("tasks",),      # below score and train: both learn from tasks, data and heads
    ("adapters",),
    ("passes",),     # every graph rewrite: tracing (graph) tidies with them, compile applies plans with them
    ("graph",),      # tracing, the trace cache and backbone snapshots (a traced hf: backbone without transformers)
    ("compiler",),   # plan, the orchestrator (compile) and adapter files (a compiled model saved, compiled again)
    ("score",),
    ("plot",),       # draws a spec over its resolved plan and a score heat map; search draws its best
    ("train",),
    ("searcher",),
    ("interop",),
    ("generation",),  # runs what train and interop open, with the LM head of tasks
    ("cli", "__init__"),  # the parser, its number checks and the command groups (cli/commands)
    ("__main__",),
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(path: Path) -> str:
    """The top-level module or subpackage of adaptgraph that ``path`` belongs to."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    """Units of adaptgraph that the module at ``path`` imports (absolute or relative)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = list(rel[:-1])  # a module's package; an __init__'s package is its own folder
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from adaptgraph import compiler` / `from .. import x` names units, not just the package
            names = [f"{base}.{a.name}" for a in node.names] if base == "adaptgraph" else [base]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("adaptgraph.")}
    return found


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer():
    assert not {_unit(p) for p in _modules()} - RANK.keys(), "give the new unit a place in LAYERS"


def test_no_module_imports_its_own_layer_or_a_later_one():
    wrong = []
    for path in _modules():
        unit = _unit(path)
        for other in _imported_units(path) - {unit}:
            if other in RANK and RANK[other] >= RANK[unit]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} ({unit}) imports {other}")
    assert not wrong, "\n".join(wrong)


def test_the_reader_sees_imports():
    # the checks above mean something only if imports are found: score's reading of tasks is one
    imported = set().union(*(_imported_units(p) for p in (PACKAGE / "score").rglob("*.py")))
    assert {"tasks", "spec", "graph"} <= imported and "train" not in imported
