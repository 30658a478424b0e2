"""Adapter modules, each kind bound once to its options model and cost by ``register_adapter``."""
from ..spec.edge_facts import adapter_flops, adapter_parameters
from ..spec.models import Options
from .kinds import (ADAPTER_KINDS, DEFAULT_ADAPTER, AdapterKind, adapter_kind, built_kind, edge_flops, edge_parameters,
                    register_adapter)
from .lowrank import LowRankAdapter

register_adapter("lowrank", LowRankAdapter, options=Options, parameters=adapter_parameters, flops=adapter_flops)

__all__ = ["ADAPTER_KINDS", "DEFAULT_ADAPTER", "AdapterKind", "LowRankAdapter", "adapter_kind", "built_kind", "edge_flops",
           "edge_parameters", "register_adapter"]
