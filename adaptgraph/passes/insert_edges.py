"""Insert the forward (non-recurrent) adapter edges: ``D' = D + sum_e adapter_e(S_e*)``.

Destinations are processed in graph order, so a source that is itself a destination
is read after its own adapters were added (``S*``), except for a self-edge, which
reads D before the addition. Every consumer of D downstream then sees D'.
"""
from __future__ import annotations

import operator
from collections import defaultdict

import torch
from torch import fx

from ..errors import PlanError, did_you_mean
from ..weights.trainable import adapter_path
from .context import PlanContext
from .properties import ADAPTED_MARKS, ADAPTERS_INSTALLED, FORWARD_EDGES
from .runner import Pass, PassResult

# Set on the node that holds D' (D after its forward adapters) to the name of D: how
# ``unroll_recurrent`` finds, in the graph itself, the value of a point after its adapters.
ADAPTED_FROM = "adaptgraph_adapted_from"


def insert_forward_edges(gm: fx.GraphModule, context: PlanContext) -> PassResult:
    """Rewrite ``gm`` in place; each node that now holds D' is marked ``meta[ADAPTED_FROM] = D``."""
    edges = context.plan.forward
    nodes = {n.name: n for n in gm.graph.nodes}
    order = {name: i for i, name in enumerate(nodes)}
    by_dst: dict[str, list] = defaultdict(list)
    for e in edges:
        by_dst[e.dst.node].append(e)
    adapted: dict[str, fx.Node] = {}
    for dst_name in sorted(by_dst, key=order.__getitem__):
        dst = nodes[dst_name]
        sources = [dst if e.src.node == dst_name else adapted.get(e.src.node, nodes[e.src.node])
                   for e in by_dst[dst_name]]
        adapted[dst_name] = add_adapters(gm.graph, dst, [(adapter_path(e.name), s) for e, s in
                                                         zip(by_dst[dst_name], sources)])
        adapted[dst_name].meta[ADAPTED_FROM] = dst_name
    return PassResult(gm, bool(edges), len(edges))


def add_adapters(graph: fx.Graph, dst: fx.Node, calls: list[tuple[str, fx.Node]]) -> fx.Node:
    """Insert ``dst + m1(s1) + m2(s2) + ...`` right after ``dst`` and redirect dst's users to the sum."""
    created: set[fx.Node] = set()
    cursor, total = dst, dst
    for target, source in calls:
        with graph.inserting_after(cursor):
            call = graph.call_module(target, (source,))
        with graph.inserting_after(call):
            total = graph.call_function(operator.add, (total, call))
        created |= {call, total}
        cursor = total
    _copy_meta(dst, created)
    dst.replace_all_uses_with(total, delete_user_cb=lambda user: user not in created)
    return total


def _copy_meta(dst: fx.Node, created) -> None:
    # keep shape metadata so later passes and `points` can still read shapes
    for n in created:
        if "tensor_meta" in dst.meta:
            n.meta["tensor_meta"] = dst.meta["tensor_meta"]


def insert_edge(gm: fx.GraphModule, src: str, dst: str, adapter: torch.nn.Module, name: str) -> fx.Node:
    """Public single-edge helper for any GraphModule: add ``adapter(src)`` into ``dst`` (node names).

    ``src`` must come before ``dst`` in the graph or be ``dst`` itself (a self-edge). The adapter is
    registered as ``adapters.<name>``. Returns the node that now holds the adapted value.
    """
    nodes = {n.name: n for n in gm.graph.nodes}
    for which, value in (("source", src), ("destination", dst)):
        if value not in nodes:
            raise PlanError(f"no node named {value!r} for the {which}", hint=did_you_mean(value, nodes))
    order = list(nodes)
    if order.index(src) > order.index(dst):
        raise PlanError(f"{src!r} comes after {dst!r}: a recurrent edge needs `adaptgraph.compile` (it unrolls passes)")
    gm.add_submodule(adapter_path(name), adapter)
    out = add_adapters(gm.graph, nodes[dst], [(adapter_path(name), nodes[src])])
    gm.graph.lint()
    gm.recompile()
    return out


INSERT_FORWARD_EDGES = Pass("insert_forward_edges", insert_forward_edges,
                            requires=frozenset({ADAPTERS_INSTALLED}), ensures=frozenset({FORWARD_EDGES, ADAPTED_MARKS}))
