"""Restoring a feature model's trained state, and which of its modules run in train mode.

A feature model handed to training is frozen except for what should learn (the
compiler sets ``requires_grad=False`` on the backbone). Only parameters with
``requires_grad`` are optimised; they, and the buffers of modules that train
(a batch norm a spec makes trainable), are saved and restored (the rule is
``adaptgraph.weights.trainable``). Everything frozen stays in eval mode, so frozen
normalisation statistics never drift and the trained state alone reproduces the model.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import TaskError
from ..weights.trainable import trained_modules, trained_tensors, unwrap


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from ``adaptgraph.weights.trainable.trainable_state``) into ``model``.

    TaskError when the names differ: the state belongs to another model.
    """
    tensors = trained_tensors(unwrap(model))
    missing, extra = sorted(set(tensors) - set(state)), sorted(set(state) - set(tensors))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has {extra[0]}, which the model does not train"
        raise TaskError(f"the saved state does not fit the model: it {what}",
                        hint="load the state into the model it was trained with (same spec and backbone)")
    with torch.no_grad():
        for name, t in tensors.items():
            t.copy_(state[name].to(t.device, t.dtype))


def set_train_mode(model: nn.Module) -> None:
    """Eval mode everywhere except modules whose parameters are all trainable (adapters, heads).

    Those modules are switched to train mode with their children, so an
    adapter's own dropout is active while the frozen backbone's is not.
    """
    model.eval()
    for _, module in trained_modules(model):
        module.train()
