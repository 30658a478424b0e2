"""Replace in-place ops by their out-of-place forms where nothing can tell the difference.

Points are node values: an adapter reads ``S`` and adds into ``D``. An in-place op
later in the graph (``out += identity``, ``ReLU(inplace=True)``) would overwrite
the tensor of an earlier node, so reading that node later, or backpropagating
through it, would see the wrong value. An in-place op is rewritten only when no
other node reads the mutated tensor after it or takes a view of it, and the tensor
is not itself an alias (an input, a parameter, a view, or the result of another
in-place op that was kept).
"""
from __future__ import annotations

import operator

import torch
from torch import fx

from .nodes import is_tensor_node, op_name
from .properties import OUT_OF_PLACE, SHAPES
from .runner import Pass, PassResult

_INPLACE_OPERATORS = {operator.iadd: operator.add, operator.isub: operator.sub,
                      operator.imul: operator.mul, operator.itruediv: operator.truediv}
_VIEW_OPS = frozenset({
    "view", "reshape", "transpose", "permute", "select", "slice", "expand", "unsqueeze", "squeeze",
    "t", "narrow", "as_strided", "split", "chunk", "unbind", "diagonal", "flatten", "unflatten",
    "movedim", "detach", "alias", "view_as", "expand_as", "contiguous", "split_with_sizes",
    "_unsafe_view", "getitem",
})


def remove_inplace_ops(gm: fx.GraphModule, context: object) -> PassResult:
    """Rewrite safe in-place ops in ``gm`` (in place); the result counts and names the rewritten nodes.

    Which values are tensors is read from their shapes, so shapes must have been propagated."""
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    changed: list[str] = []
    kept: set[fx.Node] = set()  # in-place nodes left as they are: their results alias their input
    for node in list(gm.graph.nodes):
        rewrite = _rewrite_for(gm, node)
        if rewrite is None:
            continue
        if _safe_to_rewrite(node, order, kept):
            rewrite()
            changed.append(node.name)
        else:
            kept.add(node)
    modules = _inplace_modules(gm)
    for target, calls in modules.items():
        if all(_safe_to_rewrite(c, order, kept) for c in calls):
            gm.get_submodule(target).inplace = False
            changed.extend(c.name for c in calls)
    note = f"in-place ops made out-of-place: {', '.join(changed)}" if changed else ""
    return PassResult(gm, bool(changed), len(changed), note)


REMOVE_INPLACE_OPS = Pass("remove_inplace_ops", remove_inplace_ops, requires=frozenset({SHAPES}),
                          ensures=frozenset({OUT_OF_PLACE}))


def is_inplace(node: fx.Node) -> bool:
    """True for an op that writes into its first argument (``add_``, ``+=``, ``relu(..., inplace=True)``)."""
    if node.op == "call_function" and (node.target in _INPLACE_OPERATORS or node.kwargs.get("inplace") is True):
        return True
    if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
        return _functional_overload(node.target) is not None
    return node.op == "call_method" and _is_inplace_method(node.target)


def _rewrite_for(gm: fx.GraphModule, node: fx.Node):
    """A callable that turns ``node`` out-of-place, or None when it is not a known in-place op."""
    if node.op == "call_function" and node.target in _INPLACE_OPERATORS:
        return lambda: setattr(node, "target", _INPLACE_OPERATORS[node.target])
    if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
        functional = _functional_overload(node.target)
        return None if functional is None else (lambda: setattr(node, "target", functional))
    if node.op == "call_function" and node.kwargs.get("inplace") is True:
        return lambda: node.update_kwarg("inplace", False)
    if node.op == "call_method" and _is_inplace_method(node.target):
        return lambda: setattr(node, "target", node.target[:-1])
    return None


def _functional_overload(op: torch._ops.OpOverload):
    name = op._schema.name.split("::")[-1]
    if not name.endswith("_") or name.startswith("_"):
        return None
    packet = getattr(torch.ops.aten, name[:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


def _is_inplace_method(name: object) -> bool:
    return (isinstance(name, str) and name.endswith("_") and not name.startswith("_")
            and hasattr(torch.Tensor, name[:-1]))


def _inplace_modules(gm: fx.GraphModule) -> dict[str, list[fx.Node]]:
    calls: dict[str, list[fx.Node]] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module" and getattr(gm.get_submodule(node.target), "inplace", False) is True:
            calls.setdefault(node.target, []).append(node)
    return calls


def _safe_to_rewrite(node: fx.Node, order: dict[fx.Node, int], kept: set[fx.Node]) -> bool:
    mutated = node.args[0] if node.args else None
    if not is_tensor_node(mutated) or _may_alias(mutated, kept):
        return False
    others = [u for u in mutated.users if u is not node]
    # a view taken earlier shares memory, so it would see the mutation whenever it is read
    return all(order[u] < order[node] and op_name(u) not in _VIEW_OPS for u in others)


def _may_alias(node: fx.Node, kept: set[fx.Node]) -> bool:
    if node.op in ("placeholder", "get_attr") or node in kept:
        return True
    return op_name(node) in _VIEW_OPS
