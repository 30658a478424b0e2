"""Adapter modules: ``LowRankAdapter`` is the one kind a spec builds (the language names no other).

What an edge costs is the low-rank formula, ``adaptgraph.spec.edge_facts.adapter_parameters`` /
``adapter_flops`` (torch-free, so the plan, the budgets and the search count without a module);
tests/compile/test_adapter_cost.py checks it against the module's parameters and FLOPs."""
from .lowrank import LowRankAdapter

__all__ = ["LowRankAdapter"]
