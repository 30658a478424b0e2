"""Graph rewrites, one concern per file, run by ``run_passes``."""
from .freeze import freeze_backbone, strip_backbone_dropout
from .insert_edges import add_adapters, insert_edge, insert_forward_edges
from .runner import run_passes
from .unroll import unroll_recurrent

__all__ = ["add_adapters", "freeze_backbone", "insert_edge", "insert_forward_edges", "run_passes",
           "strip_backbone_dropout", "unroll_recurrent"]
