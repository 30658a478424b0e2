"""Install the plan's adapters: one module per planned edge under ``gm.adapters``, before any edge reads them."""
from __future__ import annotations

import torch
from torch import fx, nn

from ..adapters import LowRankAdapter
from ..weights.trainable import ADAPTERS
from .context import PlanContext
from .properties import ADAPTERS_INSTALLED
from .runner import Pass, PassResult


def build_adapters(plan, seed: int) -> nn.ModuleDict:
    """One adapter per edge of ``plan`` (an ``adaptgraph.compiler.plan.Plan``), initialised from ``seed`` without
    touching the global RNG."""
    adapters = nn.ModuleDict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for e in plan.edges:
            adapters[e.name] = LowRankAdapter(e.in_features, e.out_features, e.options, feature_dim=e.src.feature_dim)
    return adapters


def install_adapters(gm: fx.GraphModule, context: PlanContext) -> PassResult:
    """Add ``build_adapters(context.plan, context.seed)`` to ``gm``; the graph does not call them yet.
    The result counts the adapters."""
    adapters = build_adapters(context.plan, context.seed)
    gm.add_module(ADAPTERS, adapters)
    return PassResult(gm, False, len(adapters))


INSTALL_ADAPTERS = Pass("install_adapters", install_adapters, ensures=frozenset({ADAPTERS_INSTALLED}))
