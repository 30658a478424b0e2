"""The one adapter a spec builds: its cost formula is what the module has and computes, and compile,
the plan and the budgets all count through that formula."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import adaptgraph
from adaptgraph.adapters import LowRankAdapter
from adaptgraph.passes.insert_edges import ADAPTED_FROM
from adaptgraph.spec import BUILTIN_OPTIONS
from adaptgraph.spec.edge_facts import adapter_flops, adapter_parameters

OPTIONS = [BUILTIN_OPTIONS.model_copy(update={"rank": r, "bias": b, "norm": n, "scale": s})
           for r, b, n, s in itertools.product((1, 3), (True, False), ("none", "layernorm"), (1.0, "learn"))]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"r{o.rank}-{o.bias}-{o.norm}-{o.scale}")
def test_the_cost_formula_is_what_the_module_has_and_computes(options):
    adapter = LowRankAdapter(5, 7, options)
    assert adapter_parameters(5, 7, options) == sum(p.numel() for p in adapter.parameters())
    with FlopCounterMode(display=False) as counter:  # counts the two projections' matmuls, 2 per multiply-add
        adapter(torch.randn(1, 4, 5))
    assert adapter_flops(5, 7, options, 4) == counter.get_total_flops()


def test_the_compiler_builds_the_low_rank_adapter_and_the_plan_counts_it():
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:vit-tiny"\nedge @1 -> @3\nrecurrent @4 -> @2'))
    assert {type(m) for m in model.adapters.values()} == {LowRankAdapter}
    # insert_forward_edges marks D' in the graph; unroll_recurrent found it there (no side channel)
    assert any(n.meta.get(ADAPTED_FROM) for n in model.graph.nodes) and model.adaptgraph.recomputed_nodes > 0
    edges = model.adaptgraph.plan.edges
    assert [e.parameters for e in edges] == [sum(p.numel() for p in model.adapters[e.name].parameters())
                                             for e in edges]
    assert sum(e.parameters for e in edges) == model.adaptgraph.trainable


def test_budgets_count_what_the_module_has():
    from adaptgraph.score.select import candidates
    from adaptgraph.searcher.space import Budget, SearchSpace

    widths = (16, 8, 24)
    params = candidates(np.ones((3, 3)), widths=widths, rank=4).params  # GGA's budget
    built = LowRankAdapter(widths[0], widths[2], BUILTIN_OPTIONS.model_copy(update={"rank": 4}))
    assert params[0, 2] == sum(p.numel() for p in built.parameters())
    space = SearchSpace(("@0", "@1", "@2"), widths, (0, 1, 2), Budget(adapters=(1,), rank=4), "zoo:bert-tiny")
    assert space.gene_params(space.gene(0, 2)) == params[0, 2]  # the search's fit check
