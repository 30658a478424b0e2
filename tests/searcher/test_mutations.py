"""Mutations give valid specs within the budget; new edges are drawn in proportion to their scores."""
import numpy as np
import pytest
from scipy.stats import chisquare
from search_fixtures import synthetic_space

from adaptgraph.searcher import Budget
from adaptgraph.searcher.mutations import draw_edge, mutate
from adaptgraph.searcher.mutations import MUTATIONS
from adaptgraph.searcher.space import genome_of
from adaptgraph.spec import loads

BUDGETS = [Budget(adapters=(3,)), Budget(adapters=(4,), params=1200),
           Budget(adapters=(3,), kinds=("sequential", "parallel", "longrange")), Budget(adapters=(2,), rank=4)]


@pytest.mark.parametrize("name", MUTATIONS)
@pytest.mark.parametrize("budget", BUDGETS, ids=["k3", "params", "no-recurrent", "rank4"])
def test_every_mutation_gives_a_valid_spec_within_budget(name, budget):
    space = synthetic_space(budget=budget)
    rng = np.random.default_rng(0)
    applied = 0
    for trial in range(60):
        edges = space.edges()
        picks = rng.choice(len(edges), size=int(rng.integers(1, budget.max_adapters + 1)), replace=False)
        genome = genome_of(space.gene(*edges[k]) for k in picks)
        if not space.fits(genome):
            continue
        mutated = MUTATIONS.lookup(name)(genome, space, rng, budget.max_adapters)
        if mutated is None:
            continue
        child, how = mutated
        applied += 1
        assert space.fits(child), (name, how, child)
        assert child != genome and how.split()[0] == name
        spec = space.to_spec(child, "child")
        assert loads(_text(spec)) == loads(_text(spec))  # the spec prints and parses back
        assert space.from_spec(spec) == child
    assert applied >= 10, f"{name} applied only {applied} times"


def _text(spec):
    from adaptgraph.spec import dumps

    return dumps(spec)


def test_mutations_that_cannot_apply_say_so():
    space = synthetic_space(budget=Budget(adapters=(1,)))
    rng = np.random.default_rng(0)
    one = (space.gene(0, 1),)
    assert MUTATIONS.lookup("add")(one, space, rng, 1) is None  # already k adapters
    assert MUTATIONS.lookup("drop")(one, space, rng, 1) is None  # a spec keeps one adapter
    assert mutate(one, space, rng, 1, kinds=("add", "drop")) is None
    assert mutate(one, space, rng, 1) is not None  # move, rank or options still apply


def test_move_keeps_one_end_and_the_options():
    space = synthetic_space()
    rng = np.random.default_rng(3)
    gene = space.gene(2, 4)
    for _ in range(30):
        (moved,), how = MUTATIONS.lookup("move")((gene,), space, rng, 3)
        assert (moved.src == 2) != (moved.dst == 4) and moved.options == gene.options, how


def test_new_edges_are_drawn_in_proportion_to_their_scores():
    space = synthetic_space(n=5, seed=1)
    edges = space.edges()
    rng = np.random.default_rng(1234)
    draws = 8_000
    counts = np.zeros(len(edges))
    for _ in range(draws):
        counts[edges.index(draw_edge(space, edges, rng))] += 1
    weights = np.array([space.scores[e] for e in edges])
    expected = draws * weights / weights.sum()
    assert chisquare(counts, expected).pvalue > 0.01
    top, low = int(np.argmax(weights)), int(np.argmin(weights))
    assert counts[top] > 3 * counts[low]  # scores 1..19: the best edge is drawn far more often


def test_add_draws_by_score_and_never_picks_a_zero_score():
    space = synthetic_space(n=4, seed=2)
    space.scores[:] = 0.0
    space.scores[1, 3] = 3.0
    space.scores[2, 2] = 1.0
    rng = np.random.default_rng(0)
    start = (space.gene(0, 0),)
    added = [next(g.edge for g in MUTATIONS.lookup("add")(start, space, rng, 2)[0] if g.edge != (0, 0)) for _ in range(2000)]
    share = added.count((1, 3)) / len(added)
    assert set(added) == {(1, 3), (2, 2)} and abs(share - 0.75) < 0.03


def test_all_zero_scores_draw_uniformly():
    space = synthetic_space(n=3)
    space.scores[:] = 0.0
    rng = np.random.default_rng(0)
    edges = space.edges()
    seen = {draw_edge(space, edges, rng) for _ in range(500)}
    assert seen == set(edges)
