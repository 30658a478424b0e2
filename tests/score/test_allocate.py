"""Rank allocation under a parameter budget (``score.allocate``), on hand-made spectra."""
import itertools

import pytest

from adaptgraph.errors import ScoreError
from adaptgraph.score.allocate import allocate_ranks


def cost(d_in, d_out):
    return lambda r: r * (d_in + d_out) + r + d_out  # a rank-r adapter with biases


def test_budget_is_respected_and_spent_greedily_by_energy_per_parameter():
    spectra = [[10, 1, 1, 1], [5, 4, 3, 2]]
    params = [cost(4, 4), cost(4, 4)]  # 9 per rank, 4 fixed
    a = allocate_ranks(spectra, params, budget=params[0](1) + params[1](3))
    assert a.ranks == (1, 3)  # 4^2 and 3^2 beat 1^2
    assert a.params == params[0](1) + params[1](3)
    assert a.energy == pytest.approx((100 + 25 + 16 + 9) / (103 + 54))


@pytest.mark.parametrize("budget", [30, 60, 100, 150, 400])
def test_greedy_equals_the_best_allocation_found_by_brute_force(budget):
    spectra = [[9, 3, 2, 1], [6, 5, 1], [4, 4, 4, 4]]
    params = [cost(2, 3), cost(5, 5), cost(1, 1)]  # different costs per rank: 6, 11, 3
    a = allocate_ranks(spectra, params, budget)
    assert a.params <= budget
    energy = lambda rs: sum(sum(s * s for s in sv[:r]) for sv, r in zip(spectra, rs))  # noqa: E731
    best = max(energy(rs) for rs in itertools.product(*(range(1, len(sv) + 1) for sv in spectra))
               if sum(p(r) for p, r in zip(params, rs)) <= budget)
    got = energy(a.ranks)
    # greedy by gain per parameter reaches the LP optimum up to the first increment that did
    # not fit, so it is within one increment's gain of the best integer allocation
    largest_step = max(s * s for sv in spectra for s in sv[1:])
    assert best - largest_step <= got <= best


def test_limits_and_errors():
    a = allocate_ranks([[3, 2, 1], [1]], [cost(2, 2), cost(2, 2)], budget=10**6, max_rank=2)
    assert a.ranks == (2, 1)  # capped by max_rank and by the known spectrum
    with pytest.raises(ScoreError, match="need 8 parameters, more than the budget of 7"):
        allocate_ranks([[1], [1]], [cost(1, 1), cost(1, 1)], budget=7)
    with pytest.raises(ScoreError, match="got 1 spectra for 2 edges"):
        allocate_ranks([[1]], [cost(1, 1), cost(1, 1)], budget=100)
