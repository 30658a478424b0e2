"""Freeze the backbone: only adapters and the spec's `train` modules keep gradients."""
from __future__ import annotations

from torch import fx, nn

from ..graph import PassResult
from ..trainable import trains


def freeze_backbone(gm: fx.GraphModule, train_paths: tuple[str, ...]) -> PassResult:
    """Set ``requires_grad`` on every parameter; the result counts the trainable parameters."""
    trainable = 0
    for name, param in gm.named_parameters():
        param.requires_grad_(trains(name, train_paths))
        trainable += param.numel() if param.requires_grad else 0
    return PassResult(gm, True, trainable)


def strip_backbone_dropout(gm: fx.GraphModule) -> PassResult:
    """Remove the backbone's dropout modules, so training behaves alike under every frontend.

    torch.export traces in eval mode (its graphs hold no live dropout); fx keeps
    ``nn.Dropout`` calls that ``model.train()`` would switch on. Adapter dropout
    (an option of each edge) lives inside the adapters and is untouched.
    """
    removed = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and not str(node.target).startswith("adapters."):
            if isinstance(gm.get_submodule(node.target), nn.Dropout):
                node.replace_all_uses_with(node.args[0])
                gm.graph.erase_node(node)
                removed += 1
    return PassResult(gm, removed > 0, removed)
