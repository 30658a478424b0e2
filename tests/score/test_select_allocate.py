"""``select`` with allocated ranks and an initialisation: the budget holds, ranks follow the spectra."""
import pytest

import adaptgraph
from adaptgraph.errors import ScoreError
from adaptgraph.score import EdgeScores, SelectConfig, select
from adaptgraph.score.allocate import allocate_chosen

N, WIDTH = 4, 16


def scores(spectra=True):
    """4 stream points of width 16; edge (i, j) has singular values that decay faster for larger i."""
    sv = [[tuple(10.0 / (1 + i) ** k for k in range(12)) for j in range(N)] for i in range(N)]
    fro = [[sum(x * x for x in sv[i][j]) ** 0.5 for j in range(N)] for i in range(N)]
    return EdgeScores(points=tuple(f"@{k}" for k in range(N)), nodes=tuple(f"n{k}" for k in range(N)),
                      orders=tuple(range(N)), shapes=((2, 5, WIDTH),) * N, feature_dims=(-1,) * N,
                      widths=(WIDTH,) * N, tokens=(10,) * N, rank=tuple(tuple(12.0 for _ in r) for r in fro),
                      erank=tuple(tuple(3.0 for _ in r) for r in fro), fro=tuple(tuple(r) for r in fro),
                      nuclear=tuple(tuple(f * 2 for f in r) for r in fro), backbone="zoo:vit-tiny",
                      spectra=tuple(tuple(r) for r in sv) if spectra else None)


def edge_ranks(spec):
    default = spec.defaults.rank
    return {(e.src, e.dst): e.options.rank or default for e in spec.expanded()}


def test_allocated_ranks_keep_the_equal_rank_budget_and_favour_flat_spectra():
    s = scores()
    equal = select(s, SelectConfig(k=3, strategy="first", rank=4))
    alloc = select(s, SelectConfig(k=3, strategy="first", rank=4, ranks="allocated", init="grad"))
    assert list(edge_ranks(equal)) == list(edge_ranks(alloc))  # the same edges
    cost = lambda spec: sum(s.params(int(a[1:]), int(b[1:]), r) for (a, b), r in edge_ranks(spec).items())  # noqa: E731
    assert cost(alloc) <= cost(equal)
    got = edge_ranks(alloc)
    assert got[("@0", "@0")] > got[("@2", "@0")]  # source @0's spectrum is flat (all 10), @2's decays
    assert alloc.defaults.init == "grad" and equal.defaults.init is None
    assert adaptgraph.loads(adaptgraph.dumps(alloc)) == alloc


def test_a_parameter_budget_is_respected_by_the_allocation():
    s = scores()
    budget = 3 * s.params(0, 0, 3) + 5
    spec = select(s, SelectConfig(k=3, strategy="first", rank=2, ranks="allocated", max_params=budget))
    assert sum(s.params(int(a[1:]), int(b[1:]), r) for (a, b), r in edge_ranks(spec).items()) <= budget
    a = allocate_chosen(s, [(0, 0), (1, 0)], budget=10**9)
    assert a.ranks == (12, 12) and a.energy == pytest.approx(1.0)  # every known singular value, no more


def test_allocation_needs_spectra_and_a_known_mode():
    with pytest.raises(ScoreError, match="keep no singular values"):
        select(scores(spectra=False), SelectConfig(k=2, ranks="allocated"))
    with pytest.raises(ScoreError, match="unknown ranks mode 'alocated'"):
        select(scores(), SelectConfig(k=2, ranks="alocated"))
    with pytest.raises(ScoreError, match="does not make a valid spec"):
        select(scores(), SelectConfig(k=2, init="gradient"))
