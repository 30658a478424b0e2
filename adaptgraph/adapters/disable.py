"""``disabled_adapters(model)``: run a compiled model as its bare backbone, without recompiling.

Every adapter's output is replaced by zeros while the context is active. The rewritten
graph adds each adapter's output to a backbone value (``dst + adapter(src)``), and
``x + 0`` is ``x`` exactly, so the model computes the backbone's outputs bit for bit
(recurrent passes then recompute the same values). Like PEFT's ``disable_adapter()``,
nothing is removed or copied; unlike it, the adapters still run (their cost is small),
which keeps the graph unchanged. Modules a spec trains itself (``train`` statements)
keep their trained weights.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..errors import BackboneError
from ..weights.trainable import ADAPTERS, unwrap


def _zero_output(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(output)


@contextlib.contextmanager
def disabled_adapters(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the ``with`` block, ``model`` computes what its backbone computes."""
    adapters = getattr(unwrap(model), ADAPTERS, None)
    if not isinstance(adapters, nn.ModuleDict):
        raise BackboneError(f"{type(model).__name__} has no adapters to disable",
                              hint="pass a model made by adaptgraph.compile")
    handles = [a.register_forward_hook(_zero_output) for a in adapters.values()]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()
