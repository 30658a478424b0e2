"""What passes (and the point lookups above them) read of one graph node."""
from __future__ import annotations

import torch
from torch.fx.passes.shape_prop import TensorMetadata


def is_tensor_node(node: object) -> bool:
    """True for a graph node whose value (on the example inputs) is one tensor."""
    return isinstance(node, torch.fx.Node) and isinstance(node.meta.get("tensor_meta"), TensorMetadata)


def op_name(node: "torch.fx.Node") -> str:
    """The bare operation name of a call: ``aten.add_.Tensor`` -> ``add_``, ``F.relu`` -> ``relu``."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return target._schema.name.split("::")[-1]
    if isinstance(target, str):  # call_method / call_module
        return target.rsplit(".", 1)[-1]
    return getattr(target, "__name__", str(target))
