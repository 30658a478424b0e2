"""Every graph rewrite and the runner that applies them: one package, one shape of pass.

A ``Pass`` names the graph properties it requires and ensures (``properties.py``); ``run_passes``
refuses an order in which a requirement is not yet ensured, lints after each pass and names the one
that fails. Two pipelines run here (``pipelines.py``): ``TIDY_PASSES`` turn a fresh trace into the
graph points are read from (``graph/tracing.py``); ``PLAN_PASSES`` apply a plan (``compiler.py``).
docs/passes.md lists the properties, the passes and the invariants of the graph.
"""
from .context import PlanContext, TraceContext
from .insert_edges import ADAPTED_FROM, insert_edge
from .pipelines import PLAN_PASSES, TIDY_PASSES, TRACED
from .runner import Pass, PassResult, check_order, run_passes

__all__ = ["ADAPTED_FROM", "PLAN_PASSES", "Pass", "PassResult", "PlanContext", "TIDY_PASSES", "TRACED",
           "TraceContext", "check_order", "insert_edge", "run_passes"]
