"""What training changes in a feature model: its trainable parameters, and which modules train.

A feature model handed to training is frozen except for what should learn (the
compiler sets ``requires_grad=False`` on the backbone). Only parameters with
``requires_grad`` are optimised; they, and the buffers of modules that train
(a batch norm a spec makes trainable), are saved and restored. Everything
frozen stays in eval mode, so frozen normalisation statistics never drift and
the trained state alone reproduces the model.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import TaskError


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """``named_parameters()`` of ``model`` that require gradients."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def trained_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Buffers of the modules that train (see :func:`set_train_mode`), by full name."""
    return {f"{prefix}.{name}" if prefix else name: buffer
            for prefix, module in _fully_trainable(model) for name, buffer in module.named_buffers()}


def trained_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters, plus buffers of the modules that train.

    Buffers count when their module is in train mode during training (see
    :func:`set_train_mode`), e.g. the running statistics of a batch norm that a
    spec makes trainable; frozen modules' buffers never change.
    """
    return {**trainable_parameters(model), **trained_buffers(model)}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of :func:`trained_tensors`, by name."""
    return {name: t.detach().to("cpu", copy=True) for name, t in trained_tensors(model).items()}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`trainable_state`) into ``model``.

    TaskError when the names differ: the state belongs to another model.
    """
    tensors = trained_tensors(model)
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
    for _, module in _fully_trainable(model):
        module.train()


def _fully_trainable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost modules whose parameters all require grad, with their names."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if any(name.startswith(t + ".") or t == "" for t, _ in found):
            continue
        params = list(module.parameters())
        if params and all(p.requires_grad for p in params):
            found.append((name, module))
    return found
