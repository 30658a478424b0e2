"""The adapter-kind registry: a kind's name bound once to its module class, options model and cost.

Modelled on PEFT's ``register_peft_method``: the compiler builds every adapter through this table,
so a new kind is one ``register_adapter`` call (``lowrank`` in ``adapters/__init__.py`` is the example).
What an edge costs is read here too (:func:`edge_parameters`, :func:`edge_flops`), from the kind that
is built, so the plan, GGA's budget, rank allocation and the search's fit check count what compile builds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..errors import PlanError, did_you_mean

DEFAULT_ADAPTER = "lowrank"  # the kind of every edge: the language has no way to choose another yet


@dataclass(frozen=True)
class AdapterKind:
    """One registered kind of adapter."""

    name: str
    module: type[nn.Module]  # called as ``module(in_features, out_features, options, feature_dim=...)``
    options: type  # the options model ``module`` reads
    parameters: Callable[[int, int, Any], int]  # trainable parameters from the two widths and the options
    flops: Callable[[int, int, Any, int], int]  # FLOPs of one call on one example with N positions

    def build(self, in_features: int, out_features: int, options: Any, feature_dim: int = -1) -> nn.Module:
        """The adapter module between points of these widths (features on ``feature_dim``)."""
        if not isinstance(options, self.options):
            raise PlanError(f"adapter kind {self.name!r} reads {self.options.__name__}, "
                            f"not {type(options).__name__}")
        return self.module(in_features, out_features, options, feature_dim=feature_dim)


ADAPTER_KINDS: dict[str, AdapterKind] = {}


def register_adapter(name: str, module: type[nn.Module], *, options: type,
                     parameters: Callable[[int, int, Any], int],
                     flops: Callable[[int, int, Any, int], int]) -> AdapterKind:
    """Bind ``name`` to its module class, options model and cost functions; a name is bound once.

    ``parameters`` must be plain arithmetic on the widths (numpy arrays reach it, see :func:`edge_parameters`)."""
    if name in ADAPTER_KINDS:
        raise PlanError(f"adapter kind {name!r} is already registered (to {ADAPTER_KINDS[name].module.__name__})",
                        hint="choose another name for the new kind")
    ADAPTER_KINDS[name] = AdapterKind(name, module, options, parameters, flops)
    return ADAPTER_KINDS[name]


def built_kind() -> AdapterKind:
    """The kind compile builds on every edge (the language cannot choose one yet)."""
    return adapter_kind(DEFAULT_ADAPTER)


def edge_parameters(in_features, out_features, options):
    """Trainable parameters of the adapter compile builds between these widths. The widths may be
    numpy arrays (select counts a whole matrix at once), so a kind's ``parameters`` is plain arithmetic."""
    return built_kind().parameters(in_features, out_features, options)


def edge_flops(in_features: int, out_features: int, options: Any, positions: int) -> int:
    """FLOPs of one call of the adapter compile builds, on one example with ``positions`` tokens/pixels."""
    return built_kind().flops(in_features, out_features, options, positions)


def adapter_kind(name: str) -> AdapterKind:
    """The registered kind ``name``."""
    if name not in ADAPTER_KINDS:
        raise PlanError(f"unknown adapter kind {name!r}; registered: {', '.join(ADAPTER_KINDS)}",
                        hint=did_you_mean(name, ADAPTER_KINDS) or "register it with adaptgraph.adapters.register_adapter")
    return ADAPTER_KINDS[name]
