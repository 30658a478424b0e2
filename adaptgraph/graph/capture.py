"""Read the values of chosen graph nodes during one run (for checks, probes and tests)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import fx


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, names: set[str]):
        super().__init__(gm)
        self.names = names
        self.values: dict[str, torch.Tensor] = {}

    def run_node(self, n: fx.Node):
        value = super().run_node(n)
        if n.name in self.names and isinstance(value, torch.Tensor):
            self.values[n.name] = value.detach().clone()  # clone: a later in-place op must not change it
        return value


def node_values(gm: fx.GraphModule, inputs: tuple, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """Run ``gm(*inputs)`` without gradients and return the tensors computed by the nodes ``names``."""
    recorder = _Recorder(gm, set(names))
    with torch.no_grad():
        recorder.run(*inputs)
    return recorder.values
