"""The two pipelines, in order: tidying a fresh trace, and applying a plan to a traced graph.

Each pass reads only the graph the one before left and its pipeline's context object. The runner
checks the order against the passes' ``requires`` / ``ensures`` before running any (docs/passes.md).
"""
from __future__ import annotations

from .dead_code import ELIMINATE_DEAD_CODE
from .devices import FOLLOW_INPUT_DEVICE
from .freeze import FREEZE_BACKBONE, STRIP_BACKBONE_DROPOUT
from .frozen_eval import KEEP_FROZEN_IN_EVAL
from .inplace import REMOVE_INPLACE_OPS
from .input_defaults import APPLY_INPUT_DEFAULTS
from .insert_edges import INSERT_FORWARD_EDGES
from .install_adapters import INSTALL_ADAPTERS
from .node_meta import DROP_STRING_ANNOTATIONS, PROPAGATE_SHAPES
from .runner import check_order
from .select_output import SELECT_OUTPUT
from .unroll import UNROLL_RECURRENT

# One output, shapes on every node, no in-place ops or dead code, no fixed device, the module's optional
# inputs (a tokenizer's token_type_ids) optional again; run with a ``TraceContext`` by ``graph.trace``.
TIDY_PASSES = (SELECT_OUTPUT, PROPAGATE_SHAPES, REMOVE_INPLACE_OPS, ELIMINATE_DEAD_CODE, FOLLOW_INPUT_DEVICE,
               APPLY_INPUT_DEFAULTS, DROP_STRING_ANNOTATIONS)

# What every traced graph holds (also one read back from the trace cache or a backbone snapshot).
TRACED = check_order(TIDY_PASSES)

# Adapters in, recurrent edges unrolled, the backbone frozen and kept in eval mode; run with a
# ``PlanContext`` on a traced graph (given ``TRACED``) by ``compiler.apply_plan``. None of them runs
# the graph, so its code is regenerated once, at the end.
PLAN_PASSES = (STRIP_BACKBONE_DROPOUT, INSTALL_ADAPTERS, INSERT_FORWARD_EDGES, UNROLL_RECURRENT, ELIMINATE_DEAD_CODE,
               FREEZE_BACKBONE, KEEP_FROZEN_IN_EVAL)
