"""Unroll recurrent edges over ``passes`` forward passes (language.md 4).

Pass 1 is the graph with every forward adapter. In pass p > 1, each recurrent edge
adds its adapter of S, as computed in pass p-1, into D. Only nodes that depend on
a recurrent destination are recomputed; everything else (the shared prefix before
the earliest destination, and side branches such as mask construction) runs once.
"""
from __future__ import annotations

import operator
from collections import defaultdict

from torch import fx

from ..weights.trainable import adapter_path
from .context import PlanContext
from .insert_edges import ADAPTED_FROM
from .properties import ADAPTED_MARKS, ADAPTERS_INSTALLED, NO_DEAD_CODE, RECURRENT_UNROLLED, SHAPES
from .runner import Pass, PassResult


def unroll_recurrent(gm: fx.GraphModule, context: PlanContext) -> PassResult:
    """Rebuild ``gm.graph`` with the plan's ``passes`` passes; the result counts the nodes each extra pass
    recomputes. The value of a point after its forward adapters is the node ``insert_forward_edges``
    marked with ``meta[ADAPTED_FROM]``."""
    edges, passes = context.plan.recurrent, context.plan.passes
    if not edges:
        return PassResult(gm, False)
    old = gm.graph
    nodes = {n.name: n for n in old.nodes}
    adapted = {n.meta[ADAPTED_FROM]: n for n in old.nodes if ADAPTED_FROM in n.meta}
    final = {name: adapted.get(name, nodes[name]) for name in nodes}  # value at a point after its adapters
    into: dict[fx.Node, list] = defaultdict(list)
    for e in edges:
        into[final[e.dst.node]].append(e)
    dependent = _reachable([nodes[e.dst.node] for e in edges])
    new = fx.Graph()
    first: dict[fx.Node, fx.Node] = {}
    for n in old.nodes:
        if n.op != "output":
            first[n] = new.node_copy(n, first.__getitem__)
    prev = first
    for _ in range(2, passes + 1):
        prev = _one_pass(new, old, dependent, first, prev, into, final, nodes)
    output = next(n for n in old.nodes if n.op == "output")
    new.output(fx.node.map_arg(output.args[0], lambda x: prev.get(x, first[x])))
    gm.graph = new
    return PassResult(gm, True, len(dependent))


def _one_pass(new, old, dependent, first, prev, into, final, nodes) -> dict:
    env: dict[fx.Node, fx.Node] = {}

    def look(x):
        return env[x] if x in env else first[x]

    for n in old.nodes:
        if n.op == "output" or n not in dependent:
            continue
        value = new.node_copy(n, look)
        for e in into.get(n, ()):
            source = final[e.src.node]
            call = new.call_module(adapter_path(e.name), (prev.get(source, first[source]),))
            value = new.call_function(operator.add, (value, call))
        env[n] = value
    return env


def _reachable(starts) -> set:
    seen, todo = set(), list(starts)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(n.users)
    return seen


# The earlier passes' results that no later pass reads are dead code, and the added nodes have no shapes.
UNROLL_RECURRENT = Pass("unroll_recurrent", unroll_recurrent, requires=frozenset({ADAPTED_MARKS, ADAPTERS_INSTALLED}),
                        ensures=frozenset({RECURRENT_UNROLLED}), invalidates=frozenset({NO_DEAD_CODE, SHAPES}))
