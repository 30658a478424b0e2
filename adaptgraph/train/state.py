"""What training changes in a feature model: its trainable parameters, and which modules train.

A feature model handed to training is frozen except for what should learn (the
compiler sets ``requires_grad=False`` on the backbone). Only parameters with
``requires_grad`` are optimised, saved and restored; everything frozen stays in
eval mode, so frozen normalisation statistics never drift and the trainable
state alone reproduces the model.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import TaskError


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """``named_parameters()`` of ``model`` that require gradients."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of the trainable parameters, by parameter name."""
    return {name: p.detach().to("cpu", copy=True) for name, p in trainable_parameters(model).items()}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`trainable_state`) into ``model``'s parameters.

    TaskError when the names differ: the state belongs to another model.
    """
    params = trainable_parameters(model)
    missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
    if missing or extra:
        what = f"lacks {missing[0]}" if missing else f"has {extra[0]}, which the model does not train"
        raise TaskError(f"the saved state does not fit the model: it {what}",
                        hint="load the state into the model it was trained with (same spec and backbone)")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name].to(p.device, p.dtype))


def set_train_mode(model: nn.Module) -> None:
    """Eval mode everywhere except modules whose parameters are all trainable (adapters, heads).

    Those modules are switched to train mode with their children, so an
    adapter's own dropout is active while the frozen backbone's is not.
    """
    model.eval()
    for module in _fully_trainable(model):
        module.train()


def _fully_trainable(model: nn.Module) -> list[nn.Module]:
    found: list[nn.Module] = []
    taken: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(t + ".") or t == "" for t in taken):
            continue
        params = list(module.parameters())
        if params and all(p.requires_grad for p in params):
            found.append(module)
            taken.append(name)
    return found
