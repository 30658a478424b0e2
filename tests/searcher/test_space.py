"""The search space: budgets, genomes <-> specs, parameter counts that match the compiler."""
import pytest
from search_fixtures import synthetic_space

from adaptgraph.errors import SearchError
from adaptgraph.searcher import Budget, Gene, SearchSpace
from adaptgraph.searcher.space import baseline_genome
from adaptgraph.searcher.space import genome_of
from adaptgraph.spec import Options, loads


def test_budget_errors_name_the_bad_value():
    with pytest.raises(SearchError, match=r"adapter counts k must be integers >= 1, got \[2, 0\]"):
        Budget(adapters=(2, 0))
    with pytest.raises(SearchError, match="the parameter budget must be at least 1, got 0"):
        Budget(params=0)
    with pytest.raises(SearchError) as e:
        Budget(kinds=("paralel",))
    assert "unknown edge kind 'paralel'" in str(e.value) and "did you mean 'parallel'" in str(e.value)


def test_genome_spec_round_trip_keeps_options_and_canonical_order():
    space = synthetic_space()
    genome = genome_of([space.gene(5, 2), space.gene(1, 2, Options(rank=4).over(space.default_options)),
                        space.gene(0, 0)])
    spec = space.to_spec(genome, "demo")
    assert [(e.src, e.dst) for e in spec.edges] == [("@0", "@0"), ("@1", "@2"), ("@5", "@2")]
    assert spec.edges[1].options == Options(rank=4) and spec.edges[0].options == Options()
    assert space.from_spec(spec) == genome
    shuffled = loads('spec x\nbackbone "zoo:bert-tiny"\nedge @5 -> @2\nedge @1 -> @2 { rank = 4 }\nedge @0 -> @0\n')
    assert shuffled.content_hash() != spec.content_hash()  # edge order matters to the hash ...
    assert space.to_spec(space.from_spec(shuffled)).content_hash() == spec.content_hash()  # ... so genomes sort


def test_from_spec_reads_negative_points_and_refuses_other_points():
    space = synthetic_space(n=5)
    assert space.from_spec(loads("edge @-1 -> @0\n")) == (space.gene(4, 0),)
    assert space.from_spec(loads("parallel blocks.0.attn\n")) is None
    assert space.from_spec(loads("edge @0 -> @7\n")) is None
    assert space.from_spec(loads("edge @0 -> @1\ntrain head\n")) is None


def test_fits_checks_count_kinds_and_parameters():
    space = synthetic_space(n=5, budget=Budget(adapters=(2,), params=2 * space_cost(), kinds=("parallel",)))
    assert space.fits((space.gene(0, 1), space.gene(1, 2)))
    assert not space.fits((space.gene(0, 1), space.gene(1, 2), space.gene(2, 3)))  # 3 > k
    assert not space.fits((space.gene(0, 2),))  # long-range is not allowed
    wide = Gene(dst=1, src=0, options=Options(rank=16).over(space.default_options))
    assert not space.fits((wide, space.gene(1, 2)))  # over the parameter cap
    assert space.edges() == [(0, 1), (1, 2), (2, 3), (3, 4)]


def space_cost(width: int = 16, rank: int = 8) -> int:
    return rank * (2 * width) + rank + width


def test_parameters_match_the_compiler():
    from adaptgraph.backbones import get_backbone
    from adaptgraph.compiler import compile
    from adaptgraph.graph import trace_backbone
    from adaptgraph.graph import stream_points

    bb = get_backbone("zoo:bert-tiny")
    space = SearchSpace.from_points(stream_points(trace_backbone(bb)), Budget(), bb.ref)
    genome = genome_of([space.gene(0, 3), space.gene(6, 2, Options(rank=2, act="gelu", scale="learn", norm="layernorm",
                                                                   init="zero", bias=False, dropout=0.0))])
    model = compile(space.to_spec(genome), bb)
    assert model.adaptgraph.trainable == space.params(genome)
    base = baseline_genome(space)
    assert [g.edge for g in base] == [(k, k + 1) for k in range(space.n - 1)]
    assert {space.kind(*g.edge) for g in base} == {"parallel"}


def test_the_fit_check_counts_as_gga_budgets():
    # Both count through adaptgraph.spec.edge_facts.adapter_parameters; with unequal widths a second formula
    # (e.g. biases sized by the source) would differ on some edge.
    import numpy as np

    from adaptgraph.score.select import candidates, choose

    widths = (16, 8, 24, 12)
    space = SearchSpace(("@0", "@1", "@2", "@3"), widths, (0, 1, 2, 3), Budget(adapters=(3,), params=700, rank=4),
                        "zoo:bert-tiny", None, np.arange(16, dtype=float).reshape(4, 4))
    cands = candidates(space.scores, widths=widths, rank=space.budget.rank)
    assert [[space.gene_params(space.gene(i, j)) for j in range(4)] for i in range(4)] == cands.params.tolist()
    chosen = choose(cands, 3, strategy="gga", max_params=space.budget.params)
    assert space.fits(genome_of(space.gene(c.src_index, c.dst_index) for c in chosen))
