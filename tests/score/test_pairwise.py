"""The factorised pairwise path against a direct H_i^T Delta_j per pair."""
import warnings

import pytest
import torch

from adaptgraph.errors import ScoreError
from adaptgraph.score.accumulate import PairwiseAccumulator
from adaptgraph.score.metrics import RankSaturationWarning, default_rtol
from adaptgraph.score.pairwise import (core_products, core_spectrum, factor_rows, pair_spectra, score_matrices,
                                       small_gram)


def rand(shape, seed, rank=None):
    g = torch.Generator().manual_seed(seed)
    if rank is None:
        return torch.randn(*shape, generator=g)
    return torch.randn(shape[0], rank, generator=g) @ torch.randn(rank, shape[1], generator=g)


def points(tokens, widths, ranks, seed=0):
    h = [rand((tokens, w), seed + 2 * k, r) for k, (w, r) in enumerate(zip(widths, ranks))]
    d = [rand((tokens, w), seed + 2 * k + 1, r) for k, (w, r) in enumerate(zip(widths, ranks))]
    return h, d


def assert_spectra_match(spectra, h, d):
    for i in range(len(h)):
        for j in range(len(d)):
            direct = torch.linalg.svdvals(h[i].double().T @ d[j].double())
            got = spectra.values[i][j]
            k = min(got.numel(), direct.numel())
            scale = float(direct[0])
            assert torch.allclose(got[:k], direct[:k], atol=1e-7 * scale, rtol=0), (i, j)
            assert max(direct[k:].abs().tolist(), default=0.0) <= 1e-7 * scale  # dropped ones are zeros
            tol = default_rtol(h[i].shape[1], d[j].shape[1])
            g32 = h[i].T @ d[j]
            assert int((got > tol * got[0]).sum()) == int(torch.linalg.matrix_rank(g32.double(), rtol=tol)), (i, j)


# token counts below, between and above the widths; some points rank-deficient
@pytest.mark.parametrize("tokens", [10, 40, 150])
def test_fast_path_equals_direct(tokens):
    widths, ranks = [16, 48, 96, 32], [None, 5, None, 2]
    h, d = points(tokens, widths, ranks, seed=tokens)
    spectra = pair_spectra(h, d)
    assert spectra.tokens == (tokens,) * 4 and spectra.widths == tuple(widths)
    assert_spectra_match(spectra, h, d)


def test_precise_and_gram_routes_agree_on_large_cores():
    h, d = points(200, [80, 100], [None, None], seed=7)
    a, b = pair_spectra(h, d), pair_spectra(h, d, precise=True)
    for i in range(2):
        for j in range(2):
            assert torch.allclose(a.values[i][j], b.values[i][j], rtol=1e-9, atol=1e-9 * float(b.values[i][j][0]))


def test_factor_rows_preserves_products():
    x, y = rand((6, 20), 1).double(), rand((6, 30), 2).double()
    ax, ay = factor_rows(x), factor_rows(y)
    assert ax.shape == (6, 6)
    direct = torch.linalg.svdvals(x.T @ y)
    assert torch.allclose(torch.linalg.svdvals(ax.T @ ay), direct[:6], atol=1e-10)
    assert float(direct[6:].abs().max()) < 1e-10
    assert factor_rows(torch.zeros(3, 9)).abs().max() == 0


def test_core_spectrum_of_empty_core():
    assert core_spectrum(torch.zeros(0, 5)).numel() == 0


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batched_cores_spread_over_threads_equal_one_by_one(threads):
    cores = torch.stack([rand((70, 80), k, rank=[None, 3][k % 2]).double() for k in range(5)]).reshape(5, 1, 70, 80)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = core_spectrum(cores)
        assert torch.get_num_threads() == threads  # restored after the thread pool
    finally:
        torch.set_num_threads(before)
    assert got.shape == (5, 1, 70)
    for k in range(5):
        direct = torch.linalg.svdvals(cores[k, 0])
        assert torch.allclose(got[k, 0], direct, rtol=0, atol=1e-7 * float(direct[0])), k


def test_unaligned_points_are_not_paired():
    h = [rand((12, 4), 1), rand((12, 6), 2), rand((30, 5), 3)]
    d = [rand((12, 4), 4), rand((12, 6), 5), rand((30, 5), 6)]
    s = pair_spectra(h, d)
    assert s.values[0][2] is None and s.values[2][1] is None and s.values[2][2] is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankSaturationWarning)
        m = score_matrices(s)
    assert m["rank"][0][2] is None and m["rank"][0][1] == 4.0
    with pytest.raises(ScoreError, match="different token counts"):
        pair_spectra(h, d, groups=["a", "a", "a"])


def test_score_matrices_match_direct_metrics_and_warn_on_saturation():
    h, d = points(5, [8, 12], [None, None], seed=3)  # 5 tokens < widths: ranks capped at 5
    with pytest.warns(RankSaturationWarning, match="number of tokens"):
        m = score_matrices(pair_spectra(h, d), rtol=1e-6)
    g = h[0].double().T @ d[1].double()
    assert m["rank"][0][1] == 5.0
    assert m["fro"][0][1] == pytest.approx(float(torch.linalg.matrix_norm(g)), rel=1e-9)
    assert m["nuclear"][0][1] == pytest.approx(float(torch.linalg.matrix_norm(g, "nuc")), rel=1e-9)


@pytest.mark.parametrize("store", ["rows", "sums", "auto"])
def test_accumulated_batches_equal_stacked_rows(store):
    widths = [6, 10, 3]
    batches = [points(t, widths, [None, 2, None], seed=10 * t) for t in (4, 7, 30, 5)]  # auto: rows, then sums after the third
    acc = PairwiseAccumulator(widths, store=store)
    for h, d in batches:
        acc.add(h, d)
    h_all = [torch.cat([b[0][i] for b in batches]) for i in range(3)]
    d_all = [torch.cat([b[1][i] for b in batches]) for i in range(3)]
    assert acc.tokens == (46, 46, 46) and acc.batches == 4
    assert acc.mode == ("rows" if store == "rows" else "sums")
    assert_spectra_match(acc.spectra(), h_all, d_all)


def test_auto_store_keeps_rows_while_smaller():
    acc = PairwiseAccumulator([64, 64])
    acc.add(*points(8, [64, 64], [None, None]))
    assert acc.mode == "rows"


def test_subsampled_rows_are_the_same_for_all_points_of_a_group():
    x = rand((50, 4), 1)
    acc = PairwiseAccumulator([4, 4], tokens_per_batch=7, seed=3)
    acc.add([x, 2 * x], [x, 2 * x])
    acc.add([x, 2 * x], [x, 2 * x])
    assert acc.tokens == (14, 14)
    s = acc.spectra()
    assert torch.allclose(s.values[0][1], 2 * s.values[0][0]) and torch.allclose(s.values[1][1], 4 * s.values[0][0])


def test_accumulator_rejects_bad_batches():
    acc = PairwiseAccumulator([4, 5])
    with pytest.raises(ScoreError, match=r"point 1: expected H and Delta of shape \(tokens, 5\)"):
        acc.add([rand((3, 4), 1), rand((3, 6), 2)], [rand((3, 4), 1), rand((3, 6), 2)])
    with pytest.raises(ScoreError, match="no batch was added"):
        acc.spectra()
    with pytest.raises(ScoreError, match="unknown store"):
        PairwiseAccumulator([4], store="disk")


def test_triangular_core_products_skip_zero_blocks_and_equal_the_dense_product():
    h, d = points(30, [40, 64, 96], [None, 12, None], seed=5)  # every point has fewer tokens than features
    a, b = [factor_rows(x) for x in h], [factor_rows(y, upper=True) for y in d]
    assert all(torch.equal(f, f.tril()) for f in a) and all(torch.equal(f, f.triu()) for f in b)  # what the blocking relies on
    rows = core_products(a, b, triangular=True)
    for ai in a:
        dense = ai.T @ torch.cat(b, dim=1)
        got = rows(ai)
        assert torch.allclose(got, dense, rtol=0, atol=1e-13 * float(dense.abs().max()))
        for lo in range(0, got.shape[1], 30):  # every core upper triangular, its zeros exact
            assert torch.equal(got[:, lo:lo + 30], got[:, lo:lo + 30].triu())
    assert_spectra_match(pair_spectra(h, d), h, d)


def test_upper_factor_rows_preserve_products_and_are_upper_triangular():
    x, y = rand((6, 20), 1).double(), rand((6, 30), 2).double()
    ax, ay = factor_rows(x), factor_rows(y, upper=True)
    assert torch.equal(ax, ax.tril()) and torch.equal(ay, ay.triu())
    assert torch.allclose(ax @ ax.T, x @ x.T, atol=1e-12) and torch.allclose(ay @ ay.T, y @ y.T, atol=1e-12)
    direct = torch.linalg.svdvals(x.T @ y)
    core = ax.T @ ay
    assert torch.equal(core, core.triu())  # lower^T times upper: the triangular core the blocking needs
    assert torch.allclose(torch.linalg.svdvals(core), direct[:6], atol=1e-10)
    assert torch.equal(factor_rows(y.T, upper=True), y.T.double())  # more tokens than features: kept as is


@pytest.mark.parametrize("shape", [(3, 40, 40), (20, 20), (5, 5)])
def test_small_gram_of_upper_triangular_cores_equals_the_full_product(shape):
    core = torch.randn(*shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64).triu()
    expected = core.mT @ core
    got = small_gram(core, upper=True)
    assert torch.allclose(got, got.mT, rtol=0, atol=1e-14 * float(expected.abs().max()))  # as one matmul is
    assert torch.allclose(got, expected, rtol=0, atol=1e-13 * float(expected.abs().max()))


@pytest.mark.parametrize("shape", [(3, 50, 40), (2, 40, 50), (7, 9), (4, 4)])
def test_small_gram_is_the_symmetric_product_of_the_smaller_side(shape):
    core = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = core.mT @ core if shape[-1] <= shape[-2] else core @ core.mT
    got = small_gram(core)
    assert torch.allclose(got, got.mT, rtol=0, atol=1e-14 * float(expected.abs().max()))  # as one matmul is
    assert torch.allclose(got, expected, rtol=0, atol=1e-13 * float(expected.abs().max()))


def test_square_rows_that_are_not_factored_are_not_taken_for_triangles():
    h, d = points(20, [20, 20], [None, 6], seed=2)  # tokens == width: factor_rows keeps the rows themselves
    assert_spectra_match(pair_spectra(h, d), h, d)


def test_edge_chunks_keep_grams_cache_sized_on_a_cpu_and_whole_elsewhere():
    from adaptgraph.score.pairwise import GRAM_CHUNK_BYTES, edge_chunks

    big = int((GRAM_CHUNK_BYTES / 8) ** 0.5)  # one Gram fills the budget
    assert edge_chunks(5, big) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert edge_chunks(5, 4) == [(0, 5)]  # tiny Grams: all at once
    assert edge_chunks(0, 4) == []
    assert edge_chunks(5, big, torch.device("meta")) == [(0, 5)]


def test_triangular_cores_give_the_same_spectra_and_ranks_by_svd_gram_and_count():
    from adaptgraph.score.ranks import pair_ranks

    h, d = points(70, [96, 128, 80], [None, 20, 9], seed=11)  # fewer tokens than features: triangular cores
    svd, gram = pair_spectra(h, d, precise=True), pair_spectra(h, d)
    assert_spectra_match(svd, h, d)
    assert_spectra_match(gram, h, d)
    counted = pair_ranks(h, d)
    for i in range(3):
        for j in range(3):
            tol = default_rtol(h[i].shape[1], d[j].shape[1])
            assert counted[i][j] == int((svd.values[i][j] > tol * svd.values[i][j][0]).sum()), (i, j)
