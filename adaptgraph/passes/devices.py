"""Make a traced graph follow its inputs' device instead of the device it was traced on.

``torch.export`` writes the tracing device into the graph: ``arange(..., device=cpu)``,
``attention_mask.to(cpu, bool)``, metadata asserts. A graph traced on the CPU and
moved with ``gm.to("cuda")`` would then mix devices. Every device constant is
replaced by the device of the graph's first tensor input, read when it runs.
"""
from __future__ import annotations

import torch
from torch import fx

from .nodes import is_tensor_node
from .properties import INPUT_DEVICE, SHAPES
from .runner import Pass, PassResult


def follow_input_device(gm: fx.GraphModule, context: object) -> PassResult:
    """Rewrite device constants in ``gm`` (in place); the result counts the nodes that changed.

    The first tensor input is found by its shape, so shapes must have been propagated."""
    source = next((n for n in gm.graph.nodes if n.op == "placeholder" and is_tensor_node(n)), None)
    users = [n for n in gm.graph.nodes if _has_device(n)]
    if source is None or not users:
        return PassResult(gm, False)
    last_input = [n for n in gm.graph.nodes if n.op == "placeholder"][-1]
    with gm.graph.inserting_after(last_input):
        device = gm.graph.call_function(getattr, (source, "device"))
    for node in users:
        node.args = _swap(node.args, device)
        node.kwargs = _swap(node.kwargs, device)
    return PassResult(gm, True, len(users))


FOLLOW_INPUT_DEVICE = Pass("follow_input_device", follow_input_device, requires=frozenset({SHAPES}),
                           ensures=frozenset({INPUT_DEVICE}))


def _has_device(node: fx.Node) -> bool:
    return node.op == "call_function" and any(
        isinstance(x, torch.device) for x in torch.utils._pytree.tree_leaves((node.args, node.kwargs)))


def _swap(value, device: fx.Node):
    return torch.utils._pytree.tree_map(lambda x: device if isinstance(x, torch.device) else x, value)
