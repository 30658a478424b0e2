"""The rewrites that apply a plan, one concern per file, each a pass ``GraphModule -> PassResult``.

They run under ``run_passes`` (``graph/pass_runner.py``), as do the passes that tidy a fresh trace
(``graph/inplace.py``, ``graph/output_select.py``, ``graph/devices.py``, run by ``graph/tracing.py``).
"""
from ..graph import Pass, PassResult, run_passes
from .dead_code import eliminate_dead_code
from .freeze import freeze_backbone, strip_backbone_dropout
from .insert_edges import add_adapters, insert_edge, insert_forward_edges
from .unroll import unroll_recurrent

__all__ = ["Pass", "PassResult", "add_adapters", "eliminate_dead_code", "freeze_backbone", "insert_edge",
           "insert_forward_edges", "run_passes", "strip_backbone_dropout", "unroll_recurrent"]
