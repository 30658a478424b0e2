"""Ranks counted from the pencil K_i - tau D_j^-1 (``score.pencil``) against ``matrix_rank``, the spectra path and
the cores, and the edges it must leave to the cores."""
import math
import warnings

import pytest
import torch

from adaptgraph.score import ranks as ranks_module
from adaptgraph.score.metrics import RankSaturationWarning, default_rtol
from adaptgraph.score.pairwise import pair_spectra, score_matrices
from adaptgraph.score.pencil import Pencil, top_eigenvalues
from adaptgraph.score.ranks import pair_ranks


def gen(seed):
    return torch.Generator().manual_seed(seed)


def reference(h, d, rtol=None):
    """The naive loop's rank: ``matrix_rank`` of the explicit float32 gradient."""
    g = h.T @ d
    return int(torch.linalg.matrix_rank(g, rtol=default_rtol(*g.shape) if rtol is None else rtol))


def spectra_ranks(h, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankSaturationWarning)
        return score_matrices(pair_spectra(h, d))["rank"]


@pytest.fixture
def paths(monkeypatch):
    """Which edges ``pair_ranks`` counted from the pencil and how many from cores."""
    seen = {"pencil": 0, "cores": 0}
    counts, cores = ranks_module.row_counts, ranks_module.row_ranks

    def spy_counts(p, i, js, tau):
        seen["pencil"] += len(js)
        return counts(p, i, js, tau)

    def spy_cores(c, bounds, *args):
        seen["cores"] += len(bounds)
        return cores(c, bounds, *args)

    monkeypatch.setattr(ranks_module, "row_counts", spy_counts)
    monkeypatch.setattr(ranks_module, "row_ranks", spy_cores)
    return seen


def vit_like(tokens, widths, seed):
    """Activations with a few massive tokens and gradients whose tokens fade (so D_j is ill-conditioned by its
    token scales only, as in ViT-B), of several widths."""
    g = gen(seed)
    h, d = [], []
    for w in widths:
        x = torch.randn(tokens, w, generator=g)
        x[:3] *= 60.0
        h.append(x)
        fade = torch.logspace(0, -5, tokens)[torch.randperm(tokens, generator=g), None]
        d.append(torch.randn(tokens, w, generator=g) * fade)
    return h, d


def test_pencil_counts_equal_matrix_rank_and_the_spectra_path(paths):
    h, d = vit_like(90, [128, 160, 128], seed=1)
    got = pair_ranks(h, d)
    assert paths == {"pencil": 9, "cores": 0}
    via_spectra = spectra_ranks(h, d)
    for i in range(3):
        for j in range(3):
            assert got[i][j] == via_spectra[i][j] == reference(h[i], d[j]), (i, j)


@pytest.mark.parametrize("rtol", [None, 1e-3])
def test_singular_values_straddling_the_threshold(paths, rtol):
    tokens, width = 90, 120
    tol = default_rtol(width, width) if rtol is None else rtol
    near = [tol * 1.002, tol * 1.001, tol * 0.999, tol * 0.998]  # 1e-3 of the threshold, in float64
    below = torch.logspace(math.log10(tol / 2), -9, tokens - 7).tolist()
    s = torch.tensor(sorted([1.0, 0.3, 0.05, *near, *below], reverse=True), dtype=torch.float64)
    u = torch.linalg.qr(torch.randn(width, tokens, generator=gen(2), dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(width, tokens, generator=gen(3), dtype=torch.float64))[0]
    h, d = u.T, s[:, None] * v.T  # H^T Delta = U diag(s) V^T; D's ill-conditioning is its token scales
    assert pair_ranks([h], [d], rtol=rtol)[0][0] == int((s > tol).sum()) == 5
    assert paths == {"pencil": 1, "cores": 0}


def test_a_destination_ill_conditioned_across_tokens_is_left_to_the_cores(paths):
    h, d = vit_like(80, [128, 128], seed=4)
    q = torch.linalg.qr(torch.randn(80, 3, generator=gen(5)))[0]
    d[1] = d[1] - (1 - 1e-7) * q @ (q.T @ d[1])  # three token mixtures almost gone: no row scaling undoes it
    pencil = Pencil(h, d, torch.full((2, 2), default_rtol(128, 128), dtype=torch.float64))
    assert pencil.usable[:, 0].all() and not pencil.usable[:, 1].any()
    got = pair_ranks(h, d)
    assert paths == {"pencil": 2, "cores": 2}
    assert got == spectra_ranks(h, d)


def test_zero_and_rank_deficient_destinations(paths):
    g = gen(6)
    h = [torch.randn(70, 96, generator=g) for _ in range(3)]
    d = [torch.zeros(70, 96), torch.randn(70, 12, generator=g) @ torch.randn(12, 96, generator=g),
         torch.randn(70, 96, generator=g)]
    got = pair_ranks(h, d)
    assert [row[0] for row in got] == [0, 0, 0]
    assert [row[1] for row in got] == [12, 12, 12]
    assert got == spectra_ranks(h, d)
    assert paths["pencil"] == 3  # the full-rank destination; the singular ones go to the cores


def test_a_flat_top_is_certified_by_cholesky():
    # lambda_1 = lambda_2: Kato-Temple has no bound on lambda_2 below theta; c E_j - K_i > 0 proves lambda_max
    tokens, width = 80, 100
    s = torch.tensor([2.0, 2.0, 1.5] + torch.logspace(-1, -5, tokens - 3).tolist(), dtype=torch.float64)
    u = torch.linalg.qr(torch.randn(width, tokens, generator=gen(7), dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(width, tokens, generator=gen(8), dtype=torch.float64))[0]
    pencil = Pencil([u.T], [s[:, None] * v.T], torch.tensor([[default_rtol(width, width)]], dtype=torch.float64))
    lam, done = top_eigenvalues(pencil)
    assert done.all()
    # lambda_max of the float64 rows is 4 up to their rounding (orthonormal factors from QR: about N eps each,
    # N = 80, so 4 (1 +- 4e-14)); the certified value lies within the width below it
    assert 4.0 * (1 - pencil.width[0, 0]) <= lam[0, 0] <= 4.0 * (1 + 1e-12)


def test_token_scales_do_not_make_a_destination_unusable():
    h, d = vit_like(80, [128], seed=9)
    rtol = torch.full((1, 1), default_rtol(128, 128), dtype=torch.float64)
    scaled = d[0] * torch.logspace(0, -10, 80)[:, None]
    assert Pencil(h, [scaled], rtol).usable.all()
    assert pair_ranks(h, [scaled]) == spectra_ranks(h, [scaled])


@pytest.mark.parametrize("seed", range(4))
def test_random_groups_equal_the_spectra_path(paths, seed):
    # token counts, widths, ranks of activations and gradients, token scales and massive tokens all drawn
    g = gen(100 + seed)
    tokens = int(torch.randint(64, 120, (1,), generator=g))
    widths = [int(torch.randint(tokens + 1, 200, (1,), generator=g)) for _ in range(3)]
    h, d = [], []
    for w in widths:
        r = int(torch.randint(5, tokens, (1,), generator=g))
        x = torch.randn(tokens, r, generator=g) @ torch.randn(r, w, generator=g)
        x[torch.randint(0, tokens, (2,), generator=g)] *= float(torch.empty(1).uniform_(1, 100, generator=g))
        h.append(x)
        scales = torch.logspace(0, -float(torch.randint(0, 8, (1,), generator=g)), tokens)
        d.append(torch.randn(tokens, w, generator=g) * scales[torch.randperm(tokens, generator=g), None])
    assert pair_ranks(h, d) == spectra_ranks(h, d)
    assert paths["pencil"] >= 6, paths  # most edges counted from the pencil


@pytest.mark.parametrize("offset", [1e-4, -1e-4])
def test_activations_loaded_on_a_mixture_the_gradients_lack_go_to_the_cores(paths, offset):
    # Delta_j is tiny along one token mixture q that H_i loads heavily: inverting D_j there cancels two huge terms
    # of X_ij, and the count drifted by widths (found in review). rho_ij flags it; the cores count it exactly.
    f64 = dict(dtype=torch.float64)
    tokens, width, r = 100, 200, 30
    g = gen(12)
    q = torch.randn(tokens, 1, generator=g, **f64)
    q /= q.norm()
    away = torch.eye(tokens, **f64) - q @ q.T
    h0 = away @ (torch.randn(tokens, r, generator=g, **f64) @ torch.randn(r, width, generator=g, **f64))
    d = away @ torch.randn(tokens, width, generator=g, **f64) + 5e-7 * q @ torch.randn(1, width, generator=g, **f64)
    a = torch.randn(1, width, generator=g, **f64)
    tol, lo, hi = default_rtol(width, width), 0.0, 1e6
    for _ in range(80):  # the load on q that puts sigma_31 / sigma_1 at tol (1 + offset)
        c = (lo + hi) / 2
        sv = torch.linalg.svdvals((h0 + c * q @ a).T @ d)
        lo, hi = (c, hi) if sv[r] / sv[0] < tol * (1 + offset) else (lo, c)
    h = h0 + c * q @ a
    sv = torch.linalg.svdvals(h.T @ d)
    assert pair_ranks([h], [d])[0][0] == int((sv > tol * sv[0]).sum()) == (31 if offset > 0 else 30)
    assert paths == {"pencil": 0, "cores": 1}


def test_destinations_in_batches_give_the_same_lambda_max_and_ranks(monkeypatch):
    from adaptgraph.score import pencil as pencil_module

    h, d = vit_like(80, [128, 160, 128, 96], seed=13)
    rtol = torch.tensor([[default_rtol(a.shape[1], b.shape[1]) for b in d] for a in h], dtype=torch.float64)
    whole = top_eigenvalues(Pencil(h, d, rtol))
    ranks = pair_ranks(h, d)
    monkeypatch.setattr(pencil_module, "LANCZOS_BYTES", 1)  # one destination per batch
    one_by_one = top_eigenvalues(Pencil(h, d, rtol))
    assert whole[1].all() and one_by_one[1].all()
    # each certified value lies in [lambda_max / (1 + width), lambda_max]: batches may round differently, but
    # two certified values of one edge differ by at most the width
    width = Pencil(h, d, rtol).width
    assert ((whole[0] - one_by_one[0]).abs() <= width * torch.maximum(whole[0], one_by_one[0])).all()
    assert pair_ranks(h, d) == ranks == spectra_ranks(h, d)
