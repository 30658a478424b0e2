"""Strategies and the ask/tell Searcher: seeded, deduplicated, independent of the order results arrive in."""
import numpy as np
import pytest
from search_fixtures import synthetic_space

from adaptgraph.errors import SearchError
from adaptgraph.score import SelectConfig, select
from adaptgraph.searcher import GGA, Budget, Candidate, Evolve, RandomPlacement, Searcher, Single, TrialOutcome
from adaptgraph.searcher.strategies import make_strategy


def ok(trial: int, accuracy: float, params: int = 100) -> TrialOutcome:
    return TrialOutcome(trial, "search", "ok", {"accuracy": accuracy}, None, params, 0.0)


def run(searcher: Searcher, reverse=False) -> list:
    """Drive a searcher to the end with a fake training; returns every proposal."""
    seen = []
    while proposals := searcher.ask():
        seen += proposals
        for p in (reversed(proposals) if reverse else proposals):
            searcher.tell(p.trial, ok(p.trial, _accuracy(p), p.params))
    return seen


def _accuracy(p) -> float:
    return int(p.hash[:6], 16) / 16**6  # a fixed, spec-dependent "accuracy"


def test_single_proposes_every_allowed_edge_or_a_seeded_sample():
    space = synthetic_space(n=4, budget=Budget(kinds=("sequential", "parallel")))
    everything = run(Searcher(Single(), space))
    assert [p.genome[0].edge for p in everything] == space.edges() == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2),
                                                                        (2, 3), (3, 3)]
    a, b = (run(Searcher(Single(sample=3), space, seed=5)) for _ in range(2))
    assert [p.hash for p in a] == [p.hash for p in b] and len(a) == 3
    c = run(Searcher(Single(sample=3), space, seed=6))
    assert [p.hash for p in a] != [p.hash for p in c]


def test_random_draws_k_distinct_edges_per_draw():
    space = synthetic_space(budget=Budget(adapters=(2, 3)))
    proposals = run(Searcher(RandomPlacement(draws=5), space, seed=1))
    sizes = [len(p.genome) for p in proposals]
    assert sizes == [2] * 5 + [3] * 5
    assert all(space.fits(p.genome) for p in proposals)
    hits = np.zeros((space.n, space.n))
    for seed in range(200):  # uniform over the n^2 extended space
        for p in run(Searcher(RandomPlacement(draws=1), space, seed=seed)):
            for g in p.genome:
                hits[g.edge] += 1
    assert hits.min() > 0 and hits.max() < 3 * hits.mean()


def test_gga_proposes_the_selection_of_each_k():
    space = synthetic_space(budget=Budget(adapters=(2, 4)))
    proposals = run(Searcher(GGA(gamma=0.6), space))
    for p, k in zip(proposals, (2, 4)):
        chosen = select(space.scores, SelectConfig(k=k, strategy="gga", gamma=0.6), points=space.points)
        assert sorted((e.src, e.dst) for e in chosen.edges) == sorted((f"@{g.src}", f"@{g.dst}") for g in p.genome)
        assert p.mutation == f"gga k={k}"


def test_evolve_is_a_function_of_the_seed_and_the_results():
    space = synthetic_space(budget=Budget(adapters=(2, 3), params=2000))
    a = run(Searcher(Evolve(trials=20, population=4), space, seed=3))
    b = run(Searcher(Evolve(trials=20, population=4), space, seed=3), reverse=True)  # results told in reverse
    c = run(Searcher(Evolve(trials=20, population=4), space, seed=4))
    assert [(p.hash, p.parent, p.mutation) for p in a] == [(p.hash, p.parent, p.mutation) for p in b]
    assert [p.hash for p in a] != [p.hash for p in c]
    assert len(a) == 20 and all(space.fits(p.genome) for p in a)
    assert {p.mutation.split()[0] for p in a[2:]} <= {"add", "drop", "move", "rank", "options"}
    assert all(p.parent < p.trial for p in a[2:])


def test_evolve_parents_are_the_best_trials():
    space = synthetic_space(budget=Budget(adapters=(1, 2)))
    searcher = Searcher(Evolve(trials=12, population=2, tournament=2), space, seed=0)
    first = searcher.ask()
    searcher.tell(first[0].trial, ok(first[0].trial, 0.9))
    searcher.tell(first[1].trial, ok(first[1].trial, 0.1))
    children = searcher.ask()
    assert {c.parent for c in children} == {first[0].trial}  # a tournament of both always picks the better one


def test_duplicates_are_skipped_and_counted():
    space = synthetic_space(budget=Budget(adapters=(2, 2, 3)))
    gga2 = space.to_spec(__import__("adaptgraph.searcher.strategies", fromlist=["gga_genome"]).gga_genome(space, 2, 0.6))
    searcher = Searcher(GGA(), space, references=[Candidate(None, "user spec mine", spec=gga2, name="mine")])
    proposals = run(searcher)
    assert [p.mutation for p in proposals] == ["user spec mine", "gga k=3"]
    assert searcher.duplicates == 2 and len({p.hash for p in proposals}) == 2
    assert [p.trial for p in proposals] == [0, 1]


def test_ask_before_telling_and_unknown_tells_are_errors():
    searcher = Searcher(GGA(), synthetic_space(budget=Budget(adapters=(1, 2))))
    first = searcher.ask()
    searcher.tell(first[0].trial, ok(first[0].trial, 0.5))
    with pytest.raises(SearchError, match=r"trials \[1\] have no result yet"):
        searcher.ask()
    with pytest.raises(SearchError, match="trial 7 is not waiting for a result"):
        searcher.tell(7, ok(7, 0.5))


def test_best_prefers_accuracy_then_fewer_parameters_and_ignores_over_budget():
    space = synthetic_space(budget=Budget(adapters=(1, 2)))
    searcher = Searcher(GGA(), space, references=[Candidate(tuple(space.gene(k, k + 1) for k in range(4)), "baseline")])
    proposals = searcher.ask()
    base, k1, k2 = proposals
    assert not base.within_budget and k1.within_budget
    searcher.tell(base.trial, ok(base.trial, 0.99, 9999))
    searcher.tell(k1.trial, ok(k1.trial, 0.5, 400))
    searcher.tell(k2.trial, ok(k2.trial, 0.5, 800))
    assert searcher.best.trial == k1.trial


def test_make_strategy_maps_trials_and_names_mistakes():
    assert make_strategy("single", 5) == Single(sample=5)
    assert make_strategy("random", 3) == RandomPlacement(draws=3)
    assert make_strategy("evolve", 9, population=3) == Evolve(trials=9, population=3)
    with pytest.raises(SearchError, match="did you mean 'evolve'"):
        make_strategy("evolv")
    with pytest.raises(SearchError, match="gga trains one spec per k"):
        make_strategy("gga", 4)
    with pytest.raises(SearchError, match="unknown mutation 'swap'"):
        Evolve(mutations=("swap",))


def test_scored_strategies_need_scores():
    space = synthetic_space()
    unscored = type(space)(space.points, space.widths, space.orders, space.budget, space.backbone)
    with pytest.raises(SearchError, match="strategy 'gga' needs edge scores"):
        Searcher(GGA(), unscored)
