"""Give a traced graph the optional arguments of the module it was traced from.

Tracing needs a tensor for every input, so an optional input (a Hugging Face
model's ``token_type_ids``) becomes a required graph argument. When the module's
forward declares a default with a ``fill(value, first_input)`` function (see
``backbones.hf_features.DerivedInput``), the graph argument gets the default
``None`` and a call to ``fill`` computes the value the model would have used, so
the graph can be called with or without it, by position or by keyword.
"""
from __future__ import annotations

import inspect

from torch import fx, nn

from .context import TraceContext
from .properties import OPTIONAL_INPUTS
from .runner import Pass, PassResult


def apply_input_defaults(gm: fx.GraphModule, module: nn.Module) -> tuple[str, ...]:
    """Make the trailing graph inputs whose forward parameter has a derived default optional.

    Returns the names made optional. Only a trailing run of such inputs can take
    defaults (Python's rule for signatures); anything else stays required.
    """
    defaults = _derived_defaults(module)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if not defaults or len(placeholders) < 2:
        return ()
    optional = []
    for node in reversed(placeholders[1:]):
        if node.target not in defaults:
            break
        optional.append(node)
    if not optional:
        return ()
    first, last = placeholders[0], placeholders[-1]
    for node in reversed(optional):
        _derive(gm.graph, node, first, last, defaults[node.target].fill)
    gm.recompile()
    return tuple(n.target for n in reversed(optional))


def input_defaults_pass(gm: fx.GraphModule, context: TraceContext) -> PassResult:
    """``apply_input_defaults`` for the module that was traced, as a pass."""
    return PassResult(gm, bool(apply_input_defaults(gm, context.module)))


def _derived_defaults(module: nn.Module) -> dict:
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in params.items() if callable(getattr(p.default, "fill", None))}


def _derive(graph: fx.Graph, node: fx.Node, first: fx.Node, last: fx.Node, fill) -> None:
    node.args = (None,)  # the placeholder's default: generated code reads ``name=None``
    with graph.inserting_after(last):
        filled = graph.call_function(fill, (node, first))
    filled.meta = {k: v for k, v in node.meta.items() if k in ("tensor_meta", "val")}
    node.replace_all_uses_with(filled, delete_user_cb=lambda user: user is not filled)


APPLY_INPUT_DEFAULTS = Pass("apply_input_defaults", input_defaults_pass, ensures=frozenset({OPTIONAL_INPUTS}))
