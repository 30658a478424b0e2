"""Frobenius norms from token Grams (``norms``) against the spectral path (``pairwise``)."""
import pytest
import torch

from adaptgraph.score.accumulate import PairwiseAccumulator
from adaptgraph.score.norms import fro_side, pair_fro
from adaptgraph.score.pairwise import pair_spectra, score_matrices

EPS = torch.finfo(torch.float64).eps


def rand(shape, seed, rank=None):
    g = torch.Generator().manual_seed(seed)
    if rank is None:
        return torch.randn(*shape, generator=g, dtype=torch.float64)
    return torch.randn(shape[0], rank, generator=g, dtype=torch.float64) @ torch.randn(rank, shape[1], generator=g,
                                                                                        dtype=torch.float64)


def points(tokens, widths, ranks, seed=0):
    h = [rand((tokens, w), seed + 2 * k, r) for k, (w, r) in enumerate(zip(widths, ranks))]
    d = [rand((tokens, w), seed + 2 * k + 1, r) for k, (w, r) in enumerate(zip(widths, ranks))]
    return h, d


def assert_squares_close(cheap, spectral, h, d):
    """|F^2 - F'^2| <= 4 (d_i + d_j + N^2 + N^2) eps ||H_i||_F^2 ||D_j||_F^2.

    Both routes are float64 sums of products. The token route's error is at most
    (d_i + N^2) eps <|H||H|^T, |D||D|^T> (Grams of length-d dot products, then an N^2-term
    inner product); the spectral route's is of the same order, (d_j + N) for its QR and core
    and k^2 <= N^2 for summing k eigenvalues each accurate to k eps lambda_max. Both
    sums of absolute products are at most ||H||_F^2 ||D||_F^2 (Cauchy-Schwarz), hence the
    bound; a factor 4 covers the constants of the (1 + eps)^m expansions.
    """
    for i in range(len(h)):
        for j in range(len(d)):
            tokens = h[i].shape[0]
            bound = 4 * (h[i].shape[1] + d[j].shape[1] + 2 * tokens ** 2) * EPS
            bound *= float(h[i].norm() ** 2 * d[j].norm() ** 2)
            assert abs(cheap[i][j] ** 2 - spectral[i][j] ** 2) <= bound, (i, j, cheap[i][j], spectral[i][j])


# 10 and 40 tokens take the token side, 150 the feature side (crossover near 92 for these widths)
@pytest.mark.parametrize("tokens, side", [(10, "tokens"), (40, "tokens"), (150, "features")])
def test_cheap_fro_equals_spectral_fro(tokens, side):
    widths = [16, 48, 96, 32]
    assert fro_side(tokens, widths) == side
    h, d = points(tokens, widths, [None, 5, None, 2], seed=tokens)
    cheap = pair_fro(h, d)
    spectral = score_matrices(pair_spectra(h, d), warn=False)["fro"]
    assert_squares_close(cheap, spectral, h, d)


def test_nearly_orthogonal_activations_and_gradients_stay_within_the_bound():
    # G is tiny against ||H|| ||D||: the case where cancellation in <K, L> costs most precision
    h = [rand((50, 20), 1)]
    q, _ = torch.linalg.qr(torch.cat([h[0], rand((50, 20), 2)], dim=1))
    d = [q[:, 20:] + 1e-6 * rand((50, 20), 3)]  # columns orthogonal to those of H, nearly
    cheap, spectral = pair_fro(h, d), score_matrices(pair_spectra(h, d), warn=False)["fro"]
    assert cheap[0][0] < 1e-3 * float(h[0].norm() * d[0].norm())
    assert_squares_close(cheap, spectral, h, d)


def test_chunked_token_grams_equal_one_chunk():
    h, d = points(33, [8, 12], [None, None], seed=4)
    one, chunked = pair_fro(h, d), pair_fro(h, d, budget_bytes=1)  # one token row per chunk
    for i in range(2):
        for j in range(2):
            assert chunked[i][j] == pytest.approx(one[i][j], rel=1e-12)


def test_unaligned_points_get_none():
    h = [rand((12, 4), 1), rand((30, 5), 3)]
    d = [rand((12, 4), 4), rand((30, 5), 6)]
    out = pair_fro(h, d)
    assert out[0][1] is None and out[1][0] is None
    assert out[1][1] == pytest.approx(float((h[1].T @ d[1]).norm()), rel=1e-12)


@pytest.mark.parametrize("store", ["rows", "sums"])
def test_accumulator_fro_equals_its_spectra(store):
    widths = [6, 10, 3]
    acc = PairwiseAccumulator(widths, store=store)
    batches = [points(t, widths, [None, 2, None], seed=t) for t in (4, 7, 5)]
    for h, d in batches:
        acc.add([x.float() for x in h], [y.float() for y in d])
    h_all = [torch.cat([b[0][i] for b in batches]).float().double() for i in range(3)]
    d_all = [torch.cat([b[1][i] for b in batches]).float().double() for i in range(3)]
    assert_squares_close(acc.fro(), score_matrices(acc.spectra(), warn=False)["fro"], h_all, d_all)
