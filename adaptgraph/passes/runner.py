"""Runs graph passes in order; lints and recompiles after each; names the failing pass."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import AdaptGraphError, PassError

Pass = Callable[[torch.fx.GraphModule], object]


def run_passes(gm: torch.fx.GraphModule, passes: Sequence[tuple[str, Pass]]) -> dict[str, object]:
    """Apply each ``(name, fn)`` to ``gm`` in place; return each pass's result by name."""
    results: dict[str, object] = {}
    done: list[str] = []
    for name, fn in passes:
        try:
            results[name] = fn(gm)
            gm.graph.lint()
            gm.recompile()
        except AdaptGraphError:
            raise
        except Exception as e:
            before = ", ".join(done) or "none"
            raise PassError(f"graph pass `{name}` failed ({type(e).__name__}: {e}); passes run before it: {before}",
                            hint="this is a bug in adaptgraph or an unusual graph; rerun with ADAPTGRAPH_DEBUG=1 "
                                 "and report the spec and backbone") from e
        done.append(name)
    return results
