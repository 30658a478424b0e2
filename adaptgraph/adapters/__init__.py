"""Adapter modules. One kind today (low rank); a new kind is one module class plus one entry here."""
from .lowrank import LowRankAdapter

ADAPTER_KINDS = {"lowrank": LowRankAdapter}

__all__ = ["ADAPTER_KINDS", "LowRankAdapter"]
