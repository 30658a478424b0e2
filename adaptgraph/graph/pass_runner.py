"""Runs graph passes in order; lints after each, recompiles after each that changed the graph (or once at
the end, for passes that never run it); names the failing pass.

A pass is a function ``GraphModule -> PassResult`` (the shape of torch.fx's ``PassResult``): only the
graph module flows from one pass to the next. Both pipelines run here: the passes that tidy a fresh
trace (``graph/tracing.py``) and those that apply a plan (``compiler.py``). The runner lives in
``graph/`` because tracing, the earlier stage, needs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from torch import fx

from ..errors import AdaptGraphError, PassError


@dataclass(frozen=True)
class PassResult:
    """What one pass did: the graph module the next pass reads, and whether it changed."""

    graph_module: fx.GraphModule
    modified: bool
    count: int = 0  # what the pass counts (nodes rewritten, trainable parameters), read by its caller
    note: str = ""  # one line for the user when the pass did something they should know (``Traced.notes``)


Pass = Callable[[fx.GraphModule], PassResult]


def run_passes(gm: fx.GraphModule, passes: Sequence[tuple[str, Pass]], *, recompile_each: bool = True
               ) -> tuple[fx.GraphModule, dict[str, PassResult]]:
    """Apply each ``(name, fn)`` in turn; return the last graph module and each pass's result by name.

    ``recompile_each=False``: the passes only edit the graph (none runs it), so its Python code is
    regenerated once at the end instead of after each pass that changed it.
    """
    results: dict[str, PassResult] = {}
    done: list[str] = []
    stale = False
    for name, fn in passes:
        try:
            result = fn(gm)
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
            raise PassError(f"graph pass `{name}` failed ({type(e).__name__}: {e}); passes run before it: {before}",
                            hint="this is a bug in adaptgraph or an unusual graph; rerun with ADAPTGRAPH_DEBUG=1 "
                                 "and report the spec and backbone") from e
        results[name] = result
        done.append(name)
    if stale:
        gm.recompile()
    return gm, results
