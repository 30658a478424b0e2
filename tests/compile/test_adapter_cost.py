"""The adapter-kind registry: each kind's cost matches its module, and the compiler builds through it."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import adaptgraph
import adaptgraph.adapters.kinds as kinds
from adaptgraph.adapters import ADAPTER_KINDS, LowRankAdapter, adapter_kind, register_adapter
from adaptgraph.errors import PlanError
from adaptgraph.passes.insert_edges import ADAPTED_FROM
from adaptgraph.spec import BUILTIN_OPTIONS

OPTIONS = [BUILTIN_OPTIONS.model_copy(update={"rank": r, "bias": b, "norm": n, "scale": s})
           for r, b, n, s in itertools.product((1, 3), (True, False), ("none", "layernorm"), (1.0, "learn"))]


@pytest.mark.parametrize("kind", sorted(ADAPTER_KINDS))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"r{o.rank}-{o.bias}-{o.norm}-{o.scale}")
def test_the_registered_cost_is_what_the_module_has_and_computes(kind, options):
    k = adapter_kind(kind)
    adapter = k.build(5, 7, options)
    assert k.parameters(5, 7, options) == sum(p.numel() for p in adapter.parameters())
    with FlopCounterMode(display=False) as counter:  # counts the two projections' matmuls, 2 per multiply-add
        adapter(torch.randn(1, 4, 5))
    assert k.flops(5, 7, options, 4) == counter.get_total_flops()


def test_unknown_kinds_duplicates_and_wrong_options_are_refused():
    with pytest.raises(PlanError) as err:
        adapter_kind("lowrnak")
    assert (err.value.problems[0].message, err.value.problems[0].hint) == (
        "unknown adapter kind 'lowrnak'; registered: lowrank", "did you mean 'lowrank'?")
    with pytest.raises(PlanError, match=r"adapter kind 'lowrank' is already registered \(to LowRankAdapter\)"):
        register_adapter("lowrank", LowRankAdapter, options=dict, parameters=len, flops=len)
    with pytest.raises(PlanError, match="adapter kind 'lowrank' reads Options, not dict"):
        adapter_kind("lowrank").build(4, 4, {"rank": 2})


class _Marked(LowRankAdapter):
    """A second kind for the test: the low-rank module plus one gate parameter, so its cost differs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = torch.nn.Parameter(torch.zeros(1))


def _marked_parameters(in_features, out_features, options):
    return adapter_kind("lowrank").parameters(in_features, out_features, options) + 1


def test_a_second_kind_is_one_registration_and_the_compiler_builds_it(monkeypatch):
    monkeypatch.setattr(kinds, "ADAPTER_KINDS", dict(ADAPTER_KINDS))  # leave the real table as it was
    lowrank = adapter_kind("lowrank")
    register_adapter("marked", _Marked, options=lowrank.options, parameters=_marked_parameters, flops=lowrank.flops)
    monkeypatch.setattr(kinds, "DEFAULT_ADAPTER", "marked")
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:vit-tiny"\nedge @1 -> @3\nrecurrent @4 -> @2'))
    assert {type(m) for m in model.adapters.values()} == {_Marked}
    # insert_forward_edges marks D' in the graph; unroll_recurrent found it there (no side channel)
    assert any(n.meta.get(ADAPTED_FROM) for n in model.graph.nodes) and model.adaptgraph.recomputed_nodes > 0
    # what the plan counts is what was built: the registered cost, not lowrank's formula
    edges = model.adaptgraph.plan.edges
    assert sum(e.parameters for e in edges) == model.adaptgraph.trainable
    assert [e.parameters for e in edges] == [lowrank.parameters(e.in_features, e.out_features, e.options) + 1
                                             for e in edges]


def test_budgets_count_the_kind_that_is_built(monkeypatch):
    import numpy as np

    from adaptgraph.score.select import candidates
    from adaptgraph.searcher.space import Budget, SearchSpace

    monkeypatch.setattr(kinds, "ADAPTER_KINDS", dict(ADAPTER_KINDS))
    widths = (16, 8, 24)
    before = candidates(np.ones((3, 3)), widths=widths, rank=4).params
    register_adapter("marked", _Marked, options=adapter_kind("lowrank").options, parameters=_marked_parameters,
                     flops=adapter_kind("lowrank").flops)
    monkeypatch.setattr(kinds, "DEFAULT_ADAPTER", "marked")
    after = candidates(np.ones((3, 3)), widths=widths, rank=4).params
    assert (after == before + 1).all()  # GGA's budget
    space = SearchSpace(("@0", "@1", "@2"), widths, (0, 1, 2), Budget(adapters=(1,), rank=4), "zoo:bert-tiny")
    assert space.gene_params(space.gene(0, 2)) == after[0, 2]  # the search's fit check
