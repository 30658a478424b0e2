"""Metrics against direct torch.linalg computation on random matrices."""
import math
import warnings

import pytest
import torch

from adaptgraph.errors import ScoreError
from adaptgraph.score.metrics import (
    FLOAT32_EPS, RankSaturationWarning, default_rtol, effective_rank, frobenius_norm,
    nuclear_norm, numerical_rank, resolve_rtol, warn_if_saturated,
)


def low_rank(m, n, r, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, r, generator=g, dtype=torch.float64) @ torch.randn(r, n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("m,n,r", [(12, 12, 12), (20, 7, 7), (7, 20, 3), (30, 16, 5), (16, 30, 1)])
def test_rank_and_norms_match_torch_linalg(m, n, r):
    g = low_rank(m, n, r, seed=m * 100 + n)
    sv = torch.linalg.svdvals(g)
    tol = default_rtol(m, n)
    assert numerical_rank(sv, tol) == int(torch.linalg.matrix_rank(g, rtol=tol)) == r
    assert frobenius_norm(sv) == pytest.approx(float(torch.linalg.matrix_norm(g, "fro")), rel=1e-12)
    assert nuclear_norm(sv) == pytest.approx(float(torch.linalg.matrix_norm(g, "nuc")), rel=1e-12)


def test_default_tolerance_is_float32_matrix_rank_rule():
    g = low_rank(40, 25, 25, seed=1).float()
    assert default_rtol(40, 25) == pytest.approx(FLOAT32_EPS * 40)
    # torch's own default for a float32 matrix is the same rule
    assert numerical_rank(torch.linalg.svdvals(g.double()), default_rtol(40, 25)) == int(torch.linalg.matrix_rank(g))


def test_tolerance_decides_what_counts():
    sv = torch.tensor([1.0, 1e-2, 1e-4, 1e-6], dtype=torch.float64)
    assert [numerical_rank(sv, t) for t in (1e-1, 1e-3, 1e-5, 1e-7)] == [1, 2, 3, 4]


def test_effective_rank_values():
    assert effective_rank(torch.ones(5)) == pytest.approx(5.0)
    assert effective_rank(torch.tensor([3.0, 0.0, 0.0])) == pytest.approx(1.0)
    sv = torch.tensor([3.0, 1.0])
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(sv) == pytest.approx(math.exp(-float((p * p.log()).sum())))
    g = low_rank(10, 8, 4, seed=3)
    assert 1.0 <= effective_rank(torch.linalg.svdvals(g)) <= 4.0 + 1e-9


def test_zero_matrix_scores_zero():
    sv = torch.linalg.svdvals(torch.zeros(4, 6, dtype=torch.float64))
    assert (numerical_rank(sv, 1e-3), effective_rank(sv), frobenius_norm(sv), nuclear_norm(sv)) == (0, 0.0, 0.0, 0.0)
    assert numerical_rank(torch.zeros(0), 1e-3) == 0


def test_bad_tolerance_is_a_score_error():
    with pytest.raises(ScoreError, match="tolerance must be a finite number >= 0"):
        resolve_rtol(-1.0, 3, 3)
    assert resolve_rtol(None, 3, 8) == default_rtol(3, 8)


def test_saturation_warning_says_which_cap():
    with pytest.warns(RankSaturationWarning, match="equal the number of tokens"):
        assert warn_if_saturated([(10, 10, 64, 64), (3, 10, 64, 64)]) == 1
    with pytest.warns(RankSaturationWarning, match=r"equal min\(d_i, d_j\)"):
        assert warn_if_saturated([(8, 100, 8, 16)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_saturated([(3, 10, 8, 8), (0, 0, 8, 8)]) == 0
