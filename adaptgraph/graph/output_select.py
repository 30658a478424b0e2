"""Passes that make a traced graph return one feature tensor, like the ``Backbone`` contract asks."""
from __future__ import annotations

import torch
from torch import fx
from torch.utils import _pytree as pytree

from ..errors import TraceError
from .inplace import is_inplace
from .pass_runner import PassResult


def first_tensor_index(eager_output: object) -> int:
    """Index, among the pytree leaves of ``eager_output``, of its first tensor."""
    for i, leaf in enumerate(pytree.tree_leaves(eager_output)):
        if isinstance(leaf, torch.Tensor):
            return i
    raise TraceError(
        f"the model returns no tensor (it returns {type(eager_output).__name__})",
        hint="a backbone's forward must return its feature tensor (or a tuple/ModelOutput whose first tensor is it)",
    )


def select_output(gm: fx.GraphModule, eager_output: object, frontend: str) -> PassResult:
    """Rewrite ``gm`` in place to return only the first tensor of the model's output.

    A tuple or a Hugging Face ``ModelOutput`` keeps its main tensor first
    (``last_hidden_state``), so the first tensor leaf is the feature tensor; the
    rest (a pooler output, attentions) is dropped; ``drop_dead_code`` removes its computation.
    """
    index = first_tensor_index(eager_output)
    output = _output_node(gm)
    leaves = pytree.tree_leaves(output.args[0])
    n_eager = len(pytree.tree_leaves(eager_output))
    if len(leaves) != n_eager or not isinstance(leaves[index], fx.Node):
        raise TraceError(
            f"{frontend}: the traced graph's output does not have the eager output's structure "
            f"({len(leaves)} values instead of {n_eager})"
        )
    output.args = (leaves[index],)
    gm.graph._codegen = fx.graph.CodeGen()  # plain positional inputs, one output: no pytree (un)flattening
    return PassResult(gm, True)


def drop_dead_code(gm: fx.GraphModule) -> PassResult:
    """Remove what the selected output does not need; in-place ops that were kept stay (they write memory)."""
    def keep(n: fx.Node) -> bool:
        inplace_module = n.op == "call_module" and getattr(gm.get_submodule(n.target), "inplace", False) is True
        return n.is_impure() or is_inplace(n) or inplace_module

    modules = len(list(gm.modules()))
    modified = gm.graph.eliminate_dead_code(is_impure_node=keep)
    gm.delete_all_unused_submodules()
    return PassResult(gm, modified or len(list(gm.modules())) != modules)


def _output_node(gm: fx.GraphModule) -> fx.Node:
    return next(n for n in reversed(gm.graph.nodes) if n.op == "output")
