"""Remove the nodes nothing reads any more, once the plan's rewrites are in."""
from __future__ import annotations

from torch import fx

from ..graph import PassResult


def eliminate_dead_code(gm: fx.GraphModule) -> PassResult:
    """torch.fx's dead-code elimination as a pass (impure nodes stay)."""
    return PassResult(gm, gm.graph.eliminate_dead_code())
