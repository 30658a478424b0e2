"""The pass that makes a traced graph return one feature tensor, like the ``Backbone`` contract asks."""
from __future__ import annotations

import torch
from torch import fx
from torch.utils import _pytree as pytree

from ..errors import TraceError
from .context import TraceContext
from .properties import ONE_OUTPUT
from .runner import Pass, PassResult


def first_tensor_index(eager_output: object) -> int:
    """Index, among the pytree leaves of ``eager_output``, of its first tensor."""
    for i, leaf in enumerate(pytree.tree_leaves(eager_output)):
        if isinstance(leaf, torch.Tensor):
            return i
    raise TraceError(
        f"the model returns no tensor (it returns {type(eager_output).__name__})",
        hint="a backbone's forward must return its feature tensor (or a tuple/ModelOutput whose first tensor is it)",
    )


def select_output(gm: fx.GraphModule, context: TraceContext) -> PassResult:
    """Rewrite ``gm`` in place to return only the first tensor of the model's output (``context.reference``).

    A tuple or a Hugging Face ``ModelOutput`` keeps its main tensor first
    (``last_hidden_state``), so the first tensor leaf is the feature tensor; the
    rest (a pooler output, attentions) is dropped; ``eliminate_dead_code`` removes its computation.
    """
    index = first_tensor_index(context.reference)
    output = _output_node(gm)
    leaves = pytree.tree_leaves(output.args[0])
    n_eager = len(pytree.tree_leaves(context.reference))
    if len(leaves) != n_eager or not isinstance(leaves[index], fx.Node):
        raise TraceError(
            f"{context.frontend}: the traced graph's output does not have the eager output's structure "
            f"({len(leaves)} values instead of {n_eager})"
        )
    output.args = (leaves[index],)
    gm.graph._codegen = fx.graph.CodeGen()  # plain positional inputs, one output: no pytree (un)flattening
    return PassResult(gm, True)


def _output_node(gm: fx.GraphModule) -> fx.Node:
    return next(n for n in reversed(gm.graph.nodes) if n.op == "output")


SELECT_OUTPUT = Pass("select_output", select_output, ensures=frozenset({ONE_OUTPUT}))
