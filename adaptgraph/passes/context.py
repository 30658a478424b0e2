"""What passes read besides the graph: one small object per pipeline, handed to every pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass(frozen=True)
class TraceContext:
    """What the passes that tidy a fresh trace read (``graph/tracing.py``)."""

    module: nn.Module  # the eager module that was traced (its forward's optional inputs)
    inputs: tuple  # the example inputs (shapes are propagated on them)
    reference: object  # the eager module's output (which leaf is the feature tensor)
    frontend: str  # the frontend that traced it, for messages


@dataclass(frozen=True)
class PlanContext:
    """What the passes that apply a plan read (``compiler.apply_plan``)."""

    plan: Any  # an ``adaptgraph.compiler.plan.Plan`` (not imported: passes sit below the compiler)
    seed: int  # adapter weights are drawn from it
