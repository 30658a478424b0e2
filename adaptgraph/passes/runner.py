"""Runs graph passes in order: checks first that each pass's requirements hold, then lints after each,
recompiles after each that changed the graph (or once at the end, for passes that never run it), and
names the failing pass.

A pass is a frozen ``Pass``: a name, the graph properties it ``requires`` and those it ``ensures``
(torch.fx's ``requires``/``ensures`` idea; ``properties.py`` names them, docs/passes.md says what each
means), and a function ``(GraphModule, context) -> PassResult``. Only the graph module flows from one
pass to the next; what a pass reads besides the graph comes in the context object its pipeline
passes to every pass (``context.py``), never through closures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import fx

from ..errors import AdaptGraphError, PassError


@dataclass(frozen=True)
class PassResult:
    """What one pass did: the graph module the next pass reads, and whether it changed."""

    graph_module: fx.GraphModule
    modified: bool
    count: int = 0  # what the pass counts (nodes rewritten, trainable parameters), read by its caller
    note: str = ""  # one line for the user when the pass did something they should know (``Traced.notes``)


@dataclass(frozen=True)
class Pass:
    """One graph rewrite and its contract with the passes around it.

    ``requires``: properties that must hold before it runs (ensured by an earlier pass or given to
    ``run_passes``). ``ensures``: properties that hold after it. ``invalidates``: properties that held
    before and may no longer hold after it (a rebuilt graph without shapes on its new nodes).
    """

    name: str
    fn: Callable[[fx.GraphModule, Any], PassResult]
    requires: frozenset[str] = frozenset()
    ensures: frozenset[str] = frozenset()
    invalidates: frozenset[str] = frozenset()


def check_order(passes: Sequence[Pass], given: frozenset[str] = frozenset()) -> frozenset[str]:
    """Refuse a pass whose requirement no earlier pass ensured (``PassError`` naming both); returns the
    properties that hold after the last pass."""
    held = set(given)
    for i, p in enumerate(passes):
        missing = sorted(p.requires - held)
        if missing:
            later = [q.name for q in passes[i + 1:] if q.ensures & set(missing)]
            where = f"`{later[0]}` ensures it but runs after it" if later else "no pass in the list ensures it"
            raise PassError(f"graph pass `{p.name}` requires {', '.join(f'`{m}`' for m in missing)}, which no "
                            f"earlier pass ensures ({where})",
                            hint="order the passes so that each requirement is ensured before it is needed "
                                 "(docs/passes.md lists the properties)")
        held = (held - p.invalidates) | p.ensures
    return frozenset(held)


def run_passes(gm: fx.GraphModule, passes: Sequence[Pass], context: Any = None, *,
               given: frozenset[str] = frozenset(), recompile_each: bool = True
               ) -> tuple[fx.GraphModule, dict[Pass, PassResult]]:
    """Apply each pass in turn to ``gm`` with ``context``; return the last graph module and each pass's result.

    ``given``: properties ``gm`` already has (``TRACED`` for a traced graph). ``recompile_each=False``:
    the passes only edit the graph (none runs it), so its Python code is regenerated once at the end
    instead of after each pass that changed it. A pass listed twice keeps the result of its last run.
    """
    check_order(passes, given)
    results: dict[Pass, PassResult] = {}
    done: list[str] = []
    stale = False
    for p in passes:
        try:
            result = p.fn(gm, context)
            if not isinstance(result, PassResult):
                raise TypeError(f"the pass returned {type(result).__name__}, not a PassResult")
            gm = result.graph_module
            gm.graph.lint()
            stale = stale or result.modified
            if stale and recompile_each:  # regenerating the code costs ~15 ms per pass on a BERT-sized graph
                gm.recompile()
                stale = False
        except AdaptGraphError:
            raise
        except Exception as e:
            before = ", ".join(done) or "none"
            raise PassError(f"graph pass `{p.name}` failed ({type(e).__name__}: {e}); passes run before it: {before}",
                            hint="this is a bug in adaptgraph or an unusual graph; rerun with ADAPTGRAPH_DEBUG=1 "
                                 "and report the spec and backbone") from e
        results[p] = result
        done.append(p.name)
    if stale:
        gm.recompile()
    return gm, results
