"""Ranks without spectra (``score.ranks``) against ``matrix_rank`` of the explicit float32 gradient."""
import warnings

import pytest
import torch

from adaptgraph.score import ranks as ranks_module
from adaptgraph.score.accumulate import PairwiseAccumulator
from adaptgraph.score.metrics import RankSaturationWarning, default_rtol, numerical_rank
from adaptgraph.score.pairwise import pair_spectra, score_matrices
from adaptgraph.score.ranks import gram_ranks, inertia_above, pair_ranks, top_eigenvalue


def gen(seed):
    return torch.Generator().manual_seed(seed)


def orthonormal(rows, cols, seed):
    return torch.linalg.qr(torch.randn(rows, cols, generator=gen(seed), dtype=torch.float64))[0]


def with_spectrum(tokens, width, singular_values, seed):
    """H, Delta (tokens x width, float32) whose H^T Delta has exactly these singular values (float64 rounding)."""
    s = torch.as_tensor(singular_values, dtype=torch.float64)
    u, v = orthonormal(width, tokens, seed), orthonormal(width, tokens, seed + 1)
    return u.T.float(), (s[:, None] * v.T).float()


def reference(h, d, rtol=None):
    """What the naive loop computes: the rank of the explicit float32 gradient (torch.linalg.matrix_rank)."""
    g = h[0].T @ d[0] if isinstance(h, list) else h.T @ d
    tol = default_rtol(g.shape[0], g.shape[1]) if rtol is None else rtol
    return int(torch.linalg.matrix_rank(g, rtol=tol))


def scored(h, d, rtol=None):
    return pair_ranks([h], [d], rtol=rtol)[0][0]


@pytest.mark.parametrize("rtol", [None, 1e-3])
def test_singular_values_straddling_the_threshold(rtol):
    tokens, width = 90, 120
    tol = default_rtol(width, width) if rtol is None else rtol
    margin = 0.2 if rtol is None else 0.01  # float32 noise of G: ~1e-7, against tol = 1.4e-5 or 1e-3
    near = [tol * (1 + margin), tol * (1 + margin / 2), tol * (1 - margin / 2), tol * (1 - margin)]
    s = sorted([1.0, 0.3, 0.05, *near, *torch.logspace(-2, -9, tokens - 7).tolist()], reverse=True)
    h, d = with_spectrum(tokens, width, s, seed=1)
    expected = sum(x > tol for x in s)
    assert reference(h, d, rtol) == expected
    assert scored(h, d, rtol) == expected


def test_rank_deficient_ill_conditioned_token_grams():
    # activations of rank 70 < 100 tokens plus rounding-level noise, gradients with condition number 1e6
    tokens, width = 100, 160
    g = gen(3)
    h = (torch.randn(tokens, 70, generator=g) @ torch.randn(70, width, generator=g)
         + 1e-6 * torch.randn(tokens, width, generator=g))
    grad_scale = torch.logspace(0, -6, tokens)[:, None]
    d = grad_scale * torch.randn(tokens, width, generator=g)
    assert torch.linalg.cond(h.double() @ h.double().T) > 1e12  # inverting it (the old idea) would fail
    for rtol in (None, 1e-4, 1e-2):
        assert scored(h, d, rtol) == reference(h, d, rtol), rtol


@pytest.mark.parametrize("tokens", [40, 150])  # fewer tokens than features (triangular factors) and more
def test_random_points_equal_matrix_rank_and_the_spectra_path(tokens):
    widths, ranks = [96, 80, 128], [None, 30, 7]
    g = gen(tokens)
    h = [torch.randn(tokens, w, generator=g) if r is None else
         torch.randn(tokens, r, generator=g) @ torch.randn(r, w, generator=g) for w, r in zip(widths, ranks)]
    d = [torch.randn(tokens, w, generator=g) * torch.logspace(0, -5, w)[None, :] for w in widths]
    got = pair_ranks(h, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankSaturationWarning)
        via_spectra = score_matrices(pair_spectra(h, d))["rank"]
    for i in range(3):
        for j in range(3):
            assert got[i][j] == reference(h[i], d[j]) == via_spectra[i][j], (i, j)


def spy_eigvalsh(monkeypatch) -> list:
    calls, real = [], torch.linalg.eigvalsh
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda m: calls.append(tuple(m.shape)) or real(m))
    return calls


def flat_top(seed, tol=default_rtol(100, 100)):
    s = [1.0, 1.0, 0.95, 0.9, 0.5, tol * 1.2, tol * 0.8] + [1e-9] * 73
    return with_spectrum(80, 100, s, seed=seed)


def test_flat_top_of_the_spectrum_is_certified_by_cholesky(monkeypatch):
    # lambda_1 = lambda_2: Kato-Temple has no bound on lambda_2 below theta; theta stops moving and
    # (1 + width) theta I - M is positive definite, which proves lambda_max
    h, d = flat_top(5)
    calls = spy_eigvalsh(monkeypatch)
    assert scored(h, d) == reference(h, d) == 6
    assert calls == []


def test_uncertified_edges_fall_back_to_their_spectrum(monkeypatch):
    h, d = flat_top(6, tol=1e-2)  # rtol 1e-2: lambda_max is needed to a relative 2e-10
    monkeypatch.setattr(ranks_module, "MAX_ITERATIONS", 1)  # theta still below that: Cholesky fails
    calls = spy_eigvalsh(monkeypatch)
    assert scored(h, d, 1e-2) == reference(h, d, 1e-2) == 6
    assert calls == [(1, 80, 80)]  # the one uncertified edge, alone


def test_top_eigenvalue_is_certified_and_accurate_with_a_gap():
    q = orthonormal(70, 70, 9)
    lam = torch.cat([torch.tensor([5.0, 0.2]), torch.logspace(-2, -12, 68)]).double()
    m = (q * lam) @ q.T
    true = torch.tensor([5.0, 15.0], dtype=torch.float64)
    for rtol in (1e-5, 1e-2):
        top, done = top_eigenvalue(torch.stack([m, 3 * m]), rtol=rtol)
        width = 70 * ranks_module.EPS64 / rtol**2  # what moves tau by less than M's own rounding
        assert done.all()
        assert (top <= true * (1 + 1e-14)).all() and ((true - top) / true <= width).all(), (rtol, top)


def test_inertia_of_indefinite_matrices_equals_eigenvalue_counts():
    g = gen(11)
    a = torch.randn(6, 50, 50, generator=g, dtype=torch.float64)
    sym = a + a.mT  # indefinite: Bunch-Kaufman takes 2x2 pivots
    tau = torch.linspace(-3, 3, 6, dtype=torch.float64)
    expected = (torch.linalg.eigvalsh(sym) > tau[:, None]).sum(-1)
    assert inertia_above(sym, tau).tolist() == expected.tolist()


def test_zero_and_tiny_gradients():
    zeros = torch.zeros(70, 90)
    assert scored(zeros, torch.randn(70, 90, generator=gen(1))) == 0
    assert gram_ranks(torch.zeros(2, 65, 65, dtype=torch.float64), 1e-5) == [0, 0]
    h, d = with_spectrum(70, 90, [1e-30] + [0.0] * 69, seed=2)  # scale-free: one direction
    assert scored(h, d) == 1


@pytest.mark.parametrize("store", ["rows", "sums"])
def test_accumulator_ranks_equal_spectra_ranks(store):
    widths = [70, 90]
    g = gen(4)
    acc = PairwiseAccumulator(widths, store=store)
    batches, basis = [], [torch.randn(20, w, generator=g) for w in widths]  # gradients of rank 20 over all batches
    for t in (30, 45):
        h = [torch.randn(t, w, generator=g) for w in widths]
        d = [torch.randn(t, 20, generator=g) @ b for b in basis]
        acc.add(h, d)
        batches.append((h, d))
    h_all = [torch.cat([b[0][i] for b in batches]) for i in range(2)]
    d_all = [torch.cat([b[1][i] for b in batches]) for i in range(2)]
    got = acc.ranks()
    for i in range(2):
        for j in range(2):
            assert got[i][j] == reference(h_all[i], d_all[j]) == 20, (i, j)


def test_small_cores_and_precise_use_the_spectrum():
    h, d = with_spectrum(20, 30, torch.logspace(0, -8, 20).tolist(), seed=8)  # cores below GRAM_MIN_SIZE
    assert scored(h, d) == reference(h, d)
    assert pair_ranks([h], [d], rtol=1e-7, precise=True)[0][0] == numerical_rank(
        torch.linalg.svdvals(h.double().T @ d.double()), 1e-7)


def test_iterations_are_bounded():
    assert ranks_module.MAX_ITERATIONS <= 50
