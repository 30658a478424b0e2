"""Freeze the backbone: only adapters and the spec's `train` modules keep gradients."""
from __future__ import annotations

from torch import fx, nn
from torch.nn.modules.dropout import _DropoutNd

from ..weights.trainable import adapter_path, trains
from .context import PlanContext
from .properties import ADAPTERS_INSTALLED, FROZEN, NO_BACKBONE_DROPOUT
from .runner import Pass, PassResult


def freeze_backbone(gm: fx.GraphModule, context: PlanContext) -> PassResult:
    """Set ``requires_grad`` on every parameter: only the adapters and the plan's ``train`` modules train;
    the result counts the trainable parameters."""
    named = list(gm.named_parameters(remove_duplicate=False))  # a tied weight trains under any of its names
    training = {id(p) for name, p in named if trains(name, context.plan.train)}
    trainable = 0
    for param in gm.parameters():
        param.requires_grad_(id(param) in training)
        trainable += param.numel() if param.requires_grad else 0
    return PassResult(gm, True, trainable)


def strip_backbone_dropout(gm: fx.GraphModule, context: object) -> PassResult:
    """Make the backbone's dropout modules identities, so training behaves alike under every frontend.

    torch.export traces in eval mode (its graphs hold no live dropout); fx keeps
    ``nn.Dropout`` calls that ``model.train()`` would switch on. Each call stays in the
    graph as a call of an ``nn.Identity``, since a plan may name it (the ``.out`` of a
    module whose last op is dropout); deleting it would leave the plan pointing at
    nothing. Adapter dropout (an option of each edge) lives inside the adapters and is untouched.
    """
    stripped = set()
    for node in gm.graph.nodes:
        if node.op == "call_module" and not str(node.target).startswith(adapter_path()):
            if isinstance(gm.get_submodule(node.target), _DropoutNd):
                stripped.add(str(node.target))
    for target in stripped:
        parent, _, name = target.rpartition(".")
        setattr(gm.get_submodule(parent), name, nn.Identity())
    return PassResult(gm, bool(stripped), len(stripped))


STRIP_BACKBONE_DROPOUT = Pass("strip_backbone_dropout", strip_backbone_dropout,
                              ensures=frozenset({NO_BACKBONE_DROPOUT}))
FREEZE_BACKBONE = Pass("freeze_backbone", freeze_backbone, requires=frozenset({ADAPTERS_INSTALLED}),
                       ensures=frozenset({FROZEN}))
