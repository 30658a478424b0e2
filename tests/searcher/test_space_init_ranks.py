"""Search budgets that write ``init`` and allocated ranks into the specs they propose (issue 16)."""
import numpy as np
import pytest

from adaptgraph.errors import SearchError
from adaptgraph.searcher import Budget, SearchSpace
from adaptgraph.searcher.strategies import gga_genome


def space(budget, spectra=True, n=4, width=16):
    rng = np.random.default_rng(0)
    scores = rng.uniform(1.0, 2.0, size=(n, n))
    sv = tuple(tuple(tuple(10.0 / (1 + i) ** k for k in range(12)) for j in range(n)) for i in range(n))
    return SearchSpace(tuple(f"@{k}" for k in range(n)), (width,) * n, tuple(range(n)), budget, "zoo:bert-tiny",
                       None, scores, sv if spectra else None)


def test_init_goes_into_every_proposed_spec_and_old_budgets_keep_their_manifest():
    sp = space(Budget(adapters=(2,), init="grad"))
    spec = sp.to_spec(gga_genome(sp, 2, 0.6), "g")
    assert spec.defaults.init == "grad" and all(e.options.init is None for e in spec.edges)
    assert Budget().to_dict() == {"adapters": [4], "params": None, "kinds": list(Budget().allowed_kinds), "rank": 8}
    assert Budget(init="grad", ranks="allocated").to_dict()["ranks"] == "allocated"


def test_allocated_gga_genome_keeps_the_equal_rank_budget():
    equal = space(Budget(adapters=(3,), rank=4))
    alloc = space(Budget(adapters=(3,), rank=4, ranks="allocated"))
    a, b = gga_genome(equal, 3, 0.6), gga_genome(alloc, 3, 0.6)
    assert [g.edge for g in a] == [g.edge for g in b]
    assert alloc.params(b) <= equal.params(a)
    assert len({g.options.rank for g in b}) > 1  # the decaying spectra of later sources get less
    capped = space(Budget(adapters=(3,), rank=4, ranks="allocated", params=equal.params(a) - 100))
    assert capped.params(gga_genome(capped, 3, 0.6)) <= equal.params(a) - 100


def test_budget_and_space_errors():
    with pytest.raises(SearchError, match="unknown ranks mode 'alocated'"):
        Budget(ranks="alocated")
    with pytest.raises(SearchError, match="unknown initialisation 'gradient'"):
        Budget(init="gradient")
    with pytest.raises(SearchError, match="allocated ranks need the gradient spectra"):
        gga_genome(space(Budget(ranks="allocated"), spectra=False), 2, 0.6)
