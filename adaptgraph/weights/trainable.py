"""What trains in a model: the one rule, and the module inside DDP / torch.compile wrappers.

The spec decides: the adapters and the spec's ``train`` modules train, the rest of the
backbone is frozen (:func:`trains`, applied by the freeze pass through ``requires_grad``).
Everything after compiling reads that decision back from ``requires_grad`` alone
(:func:`trained_tensors`), so training's best state and the adapter file hold the same
tensors, and training works on any module whose caller set ``requires_grad`` by hand.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ADAPTERS = "adapters"  # the submodule of a compiled model that holds its adapters


def adapter_path(name: str = "") -> str:
    """Module path of adapter ``name`` in a compiled model (``adapters.NAME``); no name: the prefix of all."""
    return f"{ADAPTERS}.{name}"


def trains(name: str, train_paths: Sequence[str]) -> bool:
    """Whether parameter ``name`` of a compiled model trains: under ``adapters`` or a ``train`` module."""
    return name.startswith((adapter_path(), *(f"{p}." for p in train_paths)))


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel and torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule (importing it loads dynamo)
            model = model._orig_mod
        else:
            return model


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """``named_parameters()`` of ``model`` that require gradients."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def trained_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost modules whose parameters all require grad (adapters, `train` modules, heads), by name."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if any(name.startswith(t + ".") or t == "" for t, _ in found):
            continue
        params = list(module.parameters())
        if params and all(p.requires_grad for p in params):
            found.append((name, module))
    return found


def trained_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Persistent buffers of :func:`trained_modules` (a trainable batch norm's statistics), by full name.

    Non-persistent buffers (an adapter's constant ``scale``) are not state: training never changes them.
    """
    found = {}
    for prefix, module in trained_modules(model):
        persistent = module.state_dict(keep_vars=True)
        for name, buffer in module.named_buffers():
            if name in persistent:
                found[f"{prefix}.{name}" if prefix else name] = buffer
    return found


def trained_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters, plus the persistent buffers of the modules that train."""
    return {**trainable_parameters(model), **trained_buffers(model)}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies of the :func:`trained_tensors` of the unwrapped ``model``, by name."""
    return {name: t.detach().to("cpu", copy=True).contiguous() for name, t in trained_tensors(unwrap(model)).items()}
