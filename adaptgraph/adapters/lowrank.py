"""The adapter of one edge: ``scale * up(act(down(norm(dropout(S)))))``.

Features are the last dimension of token tensors and dimension 1 of NCHW
tensors (a channel adapter is a pair of 1x1 convolutions, computed here as
linear maps over the moved channel axis: the same arithmetic, one code path).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..spec.edge_facts import ACTIVATIONS
from ..spec.models import Options


class LowRankAdapter(nn.Module):
    """A low-rank bottleneck from a source point's features to a destination point's features.

    Its size and cost are ``adaptgraph.spec.edge_facts.adapter_parameters`` / ``adapter_flops``
    (no module, no torch), which everything that counts an edge's cost reads."""

    def __init__(self, in_features: int, out_features: int, options: Options, feature_dim: int = -1):
        super().__init__()
        self.feature_dim = feature_dim
        self.dropout = nn.Dropout(options.dropout) if options.dropout else nn.Identity()
        self.norm = nn.LayerNorm(in_features) if options.norm == "layernorm" else nn.Identity()
        self.down = nn.Linear(in_features, options.rank, bias=options.bias)
        self.act = getattr(nn, ACTIVATIONS[options.act])()
        self.up = nn.Linear(options.rank, out_features, bias=options.bias)
        if options.scale == "learn":
            self.scale = nn.Parameter(torch.ones(()))
        else:
            self.register_buffer("scale", torch.tensor(float(options.scale)), persistent=False)
        self.init = options.init  # ``grad`` is finished by adapters.grad_init when training starts
        init_adapter(self, options.init)
        self.register_load_state_dict_pre_hook(_loaded)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        x = source if self.feature_dim == -1 else source.movedim(self.feature_dim, -1)
        # A half-precision backbone feeds a float32 adapter (as PEFT keeps its adapters): compute in the
        # adapter's type, return the backbone's. Both casts are no-ops when the types agree.
        x = x.to(self.down.weight.dtype)
        y = self.up(self.act(self.down(self.norm(self.dropout(x)))))
        y = (y * self.scale).to(source.dtype)
        return y if self.feature_dim == -1 else y.movedim(-1, self.feature_dim)

    def extra_repr(self) -> str:
        return f"feature_dim={self.feature_dim}"


def _loaded(module: LowRankAdapter, state_dict, prefix: str, *args) -> None:
    """Weights loaded into an ``init = grad`` adapter (a saved run, a checkpoint) are its initialisation now:
    training them further must not replace them by the gradient's directions."""
    if module.init == "grad" and prefix + "down.weight" in state_dict:
        module.init = "grad:loaded"


def init_adapter(adapter: LowRankAdapter, how: str) -> None:
    """``zero``: default down, zero up (the network starts unchanged); ``lora``: down ~ N(0, 1/r), zero up;
    ``normal``: both ~ N(0, 0.02) (the network changes from the start); ``grad``: as ``zero`` until
    ``adapters.grad_init.init_from_gradients`` sets down from the edge's gradient."""
    down, up = adapter.down, adapter.up
    with torch.no_grad():
        if how == "normal":
            nn.init.normal_(down.weight, std=0.02)
            nn.init.normal_(up.weight, std=0.02)
        else:
            if how == "lora":
                nn.init.normal_(down.weight, std=1.0 / math.sqrt(down.out_features))
            nn.init.zeros_(up.weight)
        for bias in (down.bias, up.bias):
            if bias is not None:
                nn.init.zeros_(bias)
