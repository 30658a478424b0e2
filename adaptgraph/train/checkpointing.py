"""Activation checkpointing of a compiled model, one segment per backbone block.

``checkpointed(model)`` splits the compiled ``GraphModule`` into consecutive segments at
block boundaries (a block is an entry of a ``ModuleList``/``Sequential`` such as
``encoder.layer.3``, read from each node's ``nn_module_stack``) and runs each segment
under ``torch.utils.checkpoint``: the forward pass keeps only the values that cross
segment boundaries (the residual stream, the mask, the sources of long-range edges), and
the backward pass recomputes one segment at a time. Peak activation memory drops from
all blocks' activations to about one block's plus the boundaries, for roughly one more
forward pass of compute.

The segments hold the compiled model's own modules and tensors, so training through
the checkpointed module trains the compiled model; the compiled model itself is not
changed. Segments follow the graph's order, so every value flows from an earlier
segment to a later one, whatever edges the spec added.
"""
from __future__ import annotations

import math
import re

import torch
from torch import fx, nn
from torch.fx.passes.split_module import split_module
from torch.utils.checkpoint import checkpoint

from ..errors import TaskError

_BLOCK = re.compile(r"^(.*\.)?\d+$")  # a path that ends in an index: an entry of a ModuleList/Sequential


class _Checkpointed(nn.Module):
    """One segment, recomputed in the backward pass instead of keeping its activations."""

    def __init__(self, segment: nn.Module):
        super().__init__()
        self.segment = segment

    def forward(self, *args):
        if not torch.is_grad_enabled():  # evaluation: nothing to save, nothing to recompute
            return self.segment(*args)
        # Non-reentrant: works when no input requires grad (the frozen backbone's first block),
        # and restores the RNG state, so adapter dropout draws the same mask when recomputed.
        return checkpoint(self.segment, *args, use_reentrant=False)


def checkpointed(model: nn.Module) -> fx.GraphModule:
    """A module computing what ``model`` computes, with activations checkpointed per block.

    ``model`` must be a ``torch.fx.GraphModule`` (what ``adaptgraph.compile`` returns).
    """
    if not isinstance(model, fx.GraphModule):
        raise TaskError(f"activation checkpointing needs a compiled model (a torch.fx.GraphModule), "
                        f"not {type(model).__name__}",
                        hint="compile the spec with adaptgraph.compile, or train without checkpointing")
    segment_of = segments(model.graph)
    split = split_module(model, model, lambda node: segment_of[node.name], keep_original_order=True)
    for name, child in list(split.named_children()):
        if name.startswith("submod_"):
            setattr(split, name, _Checkpointed(child))
    return split


def segments(graph: fx.Graph) -> dict[str, int]:
    """Node name -> segment index, non-decreasing in graph order; a new segment starts at each new block.

    Without blocks (no indexed module paths), about sqrt(n) equal runs of nodes, the usual
    balance between the values kept and the length recomputed.
    """
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    index, current, out = 0, None, {}
    for node in nodes:
        block = _block_of(node)
        if block is not None and block != current:
            index += current is not None
            current = block
        out[node.name] = index
    if index == 0 and nodes:
        run = max(1, math.isqrt(len(nodes)))
        out = {n.name: i // run for i, n in enumerate(nodes)}
    return out


def _block_of(node: fx.Node) -> str | None:
    """The outermost indexed module path the node runs inside, e.g. ``encoder.layer.3``; None outside blocks."""
    for key, value in (node.meta.get("nn_module_stack") or {}).items():
        path = value[0] if isinstance(value, tuple) else key
        path = _strip_prefix(str(path))
        if _BLOCK.match(path):
            return path
    return None


def _strip_prefix(path: str) -> str:
    # export records paths such as "L['self'].encoder.layer.3" in some versions; keep the module path
    return path.split("'].", 1)[-1] if "']." in path else path
