"""Passes that set what each node records: its shape on the example inputs, and no string types."""
from __future__ import annotations

from torch import fx
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import TraceError, first_line
from .context import TraceContext
from .properties import NO_STRING_TYPES, SHAPES
from .runner import Pass, PassResult


def propagate_shapes(gm: fx.GraphModule, context: TraceContext) -> PassResult:
    """Record each node's shape (``meta["tensor_meta"]``) by running ``gm`` on ``context.inputs``; rewrites nothing."""
    try:
        ShapeProp(gm).propagate(*context.inputs)
    except Exception as exc:  # noqa: BLE001 - the graph does not even run on the example inputs
        raise TraceError(f"the traced graph fails to run: {first_line(exc)}") from exc
    return PassResult(gm, False)


def drop_string_annotations(gm: fx.GraphModule, context: object) -> PassResult:
    """Forget annotations that fx kept as strings (a model written under ``from __future__ import
    annotations``): pickling a GraphModule regenerates its code and cannot name a string type.
    Nothing downstream reads a node's type."""
    named = [n for n in gm.graph.nodes if isinstance(n.type, str)]
    for node in named:
        node.type = None
    return PassResult(gm, bool(named))


PROPAGATE_SHAPES = Pass("propagate_shapes", propagate_shapes, ensures=frozenset({SHAPES}))
DROP_STRING_ANNOTATIONS = Pass("drop_string_annotations", drop_string_annotations,
                               ensures=frozenset({NO_STRING_TYPES}))
