"""Singular values of every G_ij = H_i^T Delta_j, for all n^2 ordered pairs of points.

How the work is shared between pairs (N tokens, widths d_i):

* Each point is factorised once. When N < d_i, the QR factorisation H_i^T = Q R gives
  H_i = A_i Q^T with A_i = R^T (N x N) and Q orthonormal, so sv(H_i^T Delta_j) =
  sv(A_i^T B_j): a core of size N x N instead of d_i x d_j. When N >= d_i there is
  nothing to shrink and A_i = H_i.
* All cores of one source come from ONE product A_i^T [B_1 ... B_n] (float64), which skips the
  zero blocks when the factors are triangular (``core_products``).
* The spectrum of a core C (k_i x k_j) is taken from the eigenvalues of the smaller
  Gram matrix C^T C or C C^T, of size min(k_i, k_j) <= min(N, d_i, d_j). Squaring
  costs precision: singular values below about 1e-8 * sigma_max are noise, far below
  the default rank tolerance (float32 eps * max(d) >= 7.6e-6 for cores of size >= 64);
  smaller cores, and ``precise=True``, use ``svdvals`` on C itself.

Batches are accumulated by ``accumulate.PairwiseAccumulator``, which either keeps the token rows
(memory 2 N sum(d) floats, cheap cores when N < d) or the running sums G_ij for all
pairs (memory sum(d)^2 float64, independent of N). ``store="auto"`` keeps rows while
they are the smaller of the two and switches to sums once N grows past that point;
``tokens_per_batch`` subsamples token rows (seeded) to bound both.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Hashable, Optional, Sequence

import torch

from adaptgraph.errors import ScoreError

from .metrics import METRICS, all_metrics, resolve_rtol, warn_if_saturated

GRAM_MIN_SIZE = 64  # below this a direct svdvals is cheap, and exact


@dataclass(frozen=True)
class PairSpectra:
    """Singular values of H_i^T Delta_j for every pair; ``None`` where rows do not align."""

    values: tuple[tuple[Optional[torch.Tensor], ...], ...]
    """``values[i][j]``: descending float64 singular values of the gradient of edge i -> j."""
    tokens: tuple[int, ...]
    """Token rows per point (over all accumulated batches)."""
    widths: tuple[int, ...]
    """Feature width d_i per point."""


def core_spectrum(core: torch.Tensor, precise: bool = False) -> torch.Tensor:
    """Descending singular values of a (float64) core, or of a batch ``(..., a, b)`` of cores.

    Large cores go through the eigenvalues of their smaller Gram matrix (see module docstring).
    """
    core = core.to(torch.float64)
    if min(core.shape[-2:]) == 0:
        return core.new_zeros(*core.shape[:-2], 0)
    if core.dim() > 2 and core.shape[0] > 1 and core.device.type == "cpu":
        chunks = core.flatten(0, -3).chunk(torch.get_num_threads())
        parts = map_single_threaded(lambda c: _spectrum(c, precise), chunks)
        return torch.cat(parts).reshape(*core.shape[:-2], -1)
    return _spectrum(core, precise)


def _spectrum(core: torch.Tensor, precise: bool) -> torch.Tensor:
    if precise or min(core.shape[-2:]) < GRAM_MIN_SIZE:
        return torch.linalg.svdvals(core)
    return torch.linalg.eigvalsh(small_gram(core)).clamp_min(0.0).sqrt().flip(-1)


GRAM_PANELS = 3
"""Column panels of ``small_gram``: each computes its diagonal block and what lies below it."""


def small_gram(core: torch.Tensor) -> torch.Tensor:
    """The smaller Gram matrix of a core, C^T C or C C^T (batched), symmetric.

    Computed by column panels below the diagonal and mirrored: about 2/3 of the flops of one matmul
    (measured on ViT-B's cores, N = 394: 3.0 ms against 4.2 ms per core on one thread)."""
    x = core if core.shape[-1] <= core.shape[-2] else core.mT
    k = x.shape[-1]
    if k < 2 * GRAM_PANELS:
        return x.mT @ x
    cuts = [round(k * p / GRAM_PANELS) for p in range(GRAM_PANELS + 1)]
    gram = x.new_empty(*x.shape[:-2], k, k)
    for c0, c1 in zip(cuts[:-1], cuts[1:]):
        gram[..., c0:, c0:c1] = x[..., :, c0:].mT @ x[..., :, c0:c1]
        gram[..., c0:c1, c1:] = gram[..., c1:, c0:c1].mT
    return gram


def map_single_threaded(fn: Callable, items: Sequence) -> list:
    """``[fn(x) for x in items]`` for independent CPU LAPACK work: one Python thread per torch
    thread, each running LAPACK on ONE intra-op thread.

    LAPACK's own threading of one small (N ~ 400) factorisation scales poorly and, on a
    machine shared with other processes, stalls at each of its many barriers. Measured on 2
    busy cores (OMP_WAIT_POLICY=PASSIVE), per 394 x 394 eigvalsh: 20-57 ms with torch's 2
    threads, 17-21 ms one matrix per thread; per 394 x 768 SVD: 85 ms vs 31 ms.
    """
    threads, items = torch.get_num_threads(), list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    torch.set_num_threads(1)  # process-wide; the calling thread only waits meanwhile
    try:
        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)


def row_spectra(cores: torch.Tensor, bounds: Sequence[tuple[int, int]], precise: bool) -> list[torch.Tensor]:
    """Spectra of the column blocks ``cores[:, lo:hi]``, batching blocks of equal width in one call."""
    out: list[Optional[torch.Tensor]] = [None] * len(bounds)
    by_width: dict[int, list[int]] = {}
    for k, (lo, hi) in enumerate(bounds):
        by_width.setdefault(hi - lo, []).append(k)
    for width, ks in by_width.items():
        stack = torch.stack([cores[:, bounds[k][0]:bounds[k][0] + width] for k in ks])
        for k, sv in zip(ks, core_spectrum(stack, precise)):
            out[k] = sv
    return out


def factor_rows(x: torch.Tensor) -> torch.Tensor:
    """A (N x k, float64) with x = A Q^T for some Q with orthonormal columns, k = min(N, d).

    Singular values of A^T B equal those of x^T y, so pairs can use A instead of x. When
    N < d, A = R^T from the QR factorisation x^T = Q R: a Householder QR of the d x N
    matrix costs about a sixth of the thin SVD it replaces (25 ViT-B points, 394 x 768,
    on the 2-core machine: 1.0 s against 6.3 s) and is backward stable like it. Unlike the
    SVD it does not drop numerically zero directions, so a low-rank x keeps an N-wide core
    whose extra singular values are at rounding level (about 1e-16 * ||x|| ||y||), far
    under any rank tolerance this package uses.
    """
    x = x.to(torch.float64)
    n, d = x.shape
    if n >= d or n == 0:
        return x
    return torch.linalg.qr(x.T, mode="r")[1].T


def _check_pair_lists(h: Sequence[torch.Tensor], d: Sequence[torch.Tensor]) -> None:
    if len(h) != len(d):
        raise ScoreError(f"got {len(h)} activation matrices but {len(d)} gradient matrices; "
                         "give one of each per point")
    for i, (a, b) in enumerate(zip(h, d)):
        if a.dim() != 2 or b.dim() != 2 or a.shape != b.shape:
            raise ScoreError(f"point {i}: H and Delta must be 2-d (tokens x features) of the same "
                             f"shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _default_groups(h: Sequence[torch.Tensor], groups: Optional[Sequence[Hashable]]) -> list:
    if groups is None:
        return [x.shape[0] for x in h]
    if len(groups) != len(h):
        raise ScoreError(f"got {len(groups)} group labels for {len(h)} points")
    return list(groups)


def group_members(groups: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    out: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        out.setdefault(g, []).append(i)
    return out


def pair_spectra(h: Sequence[torch.Tensor], d: Sequence[torch.Tensor], *,
                 groups: Optional[Sequence[Hashable]] = None, precise: bool = False,
                 tick: Optional[Callable[[], None]] = None) -> PairSpectra:
    """Spectra of H_i^T Delta_j for all pairs from full token-row matrices.

    ``h[i]``, ``d[i]``: tokens x d_i. Points whose rows correspond (same ``groups``
    label; by default the same row count) are paired; other pairs get ``None``.
    ``tick()`` is called after each source point (for progress bars).
    """
    _check_pair_lists(h, d)
    labels = _default_groups(h, groups)
    n = len(h)
    values: list[list[Optional[torch.Tensor]]] = [[None] * n for _ in range(n)]
    for members in group_members(labels).values():
        _fill_group(values, members, [h[i] for i in members], [d[i] for i in members], precise, tick)
    return PairSpectra(tuple(tuple(r) for r in values), tuple(x.shape[0] for x in h),
                       tuple(x.shape[1] for x in h))


def _fill_group(values, members, hs, ds, precise, tick) -> None:
    rows = pair_rows(members, hs, ds, lambda row: row_spectra(row[1], row[2], precise), tick)
    for i, row in rows:
        for j, sv in zip(members, row):
            values[i][j] = sv


def pair_rows(members: Sequence[int], hs: Sequence[torch.Tensor], ds: Sequence[torch.Tensor],
              per_row: Callable[[tuple[int, torch.Tensor, list[tuple[int, int]]]], list],
              tick: Optional[Callable[[], None]]) -> list[tuple[int, list]]:
    """``(i, per_row((i, cores, bounds)))`` for each source i of one group of aligned points, where
    ``cores[:, lo:hi]`` are the cores A_i^T B_j of i and every destination j (``bounds``), from ONE
    matmul; the sources run in parallel threads on the CPU (``map_single_threaded``)."""
    rows = {x.shape[0] for x in hs}
    if len(rows) != 1:
        raise ScoreError(f"points {list(members)} are grouped together but have different token "
                         f"counts {sorted(rows)}; give them different group labels")
    each = map_single_threaded if all(x.device.type == "cpu" for x in hs) else _map
    factors = each(factor_rows, [*hs, *ds])
    a, b = factors[:len(hs)], factors[len(hs):]
    bounds = block_bounds([x.shape[1] for x in b])
    cores_of = core_products(a, b, triangular=all(x.shape[0] < x.shape[1] for x in [*hs, *ds]))

    def source_row(source: tuple[int, torch.Tensor]) -> list:
        i, ai = source
        out = per_row((i, cores_of(ai), bounds))  # every core with source i in one product
        if tick is not None:
            tick()
        return out

    return list(zip(members, each(source_row, list(zip(members, a)))))


TRIANGLE_BLOCKS = 6
"""Row and column blocks of the triangular core products (zero blocks skipped; see ``core_products``)."""


def core_products(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor],
                  triangular: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function giving ``a_i^T [b_1 ... b_m]`` (every core of source i, one row) for each ``a_i`` of ``a``.

    When every factor is a square lower triangular R^T (``triangular``: all points have fewer tokens
    than features, so ``factor_rows`` gave R^T), a core R_i R_j^T is an upper times a lower triangular matrix: entry (s, t) sums
    over k >= max(s, t) only. Cut into ``TRIANGLE_BLOCKS`` row and column blocks, the zero blocks are
    skipped, which leaves 91 of 216 block products (about 0.42 of the flops; measured on ViT-B's
    factors, N = 394, about 17% less time than one dense matmul, which is less efficient per flop).
    """
    b_all = torch.cat(list(b), dim=1)
    size = b[0].shape[0] if b else 0
    if not triangular or size < 2 * TRIANGLE_BLOCKS:
        return lambda ai: ai.T @ b_all
    n, cuts = len(b), [round(size * k / TRIANGLE_BLOCKS) for k in range(TRIANGLE_BLOCKS + 1)]
    spans = list(zip(cuts[:-1], cuts[1:]))
    stacked = torch.stack(list(b))
    panels = [stacked[:, :, c0:c1].permute(1, 0, 2).reshape(size, -1) for c0, c1 in spans]  # [b_1[:, J] ... b_n[:, J]]

    def row(ai: torch.Tensor) -> torch.Tensor:
        at = ai.T
        out = at.new_empty(size, n, size)
        for bi, (r0, r1) in enumerate(spans):
            for bj, (c0, c1) in enumerate(spans):
                k0 = cuts[max(bi, bj)]
                out[r0:r1, :, c0:c1] = (at[r0:r1, k0:] @ panels[bj][k0:]).view(r1 - r0, n, c1 - c0)
        return out.view(size, n * size)

    return row


def _map(fn: Callable, items: Sequence) -> list:
    return [fn(x) for x in items]


def block_bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    out, at = [], 0
    for s in sizes:
        out.append((at, at + s))
        at += s
    return out


SPECTRUM_KEEP = 64
"""Singular values kept per edge in ``EdgeScores.spectra``: enough for ranks up to 64 (the search's
largest rank mutation), small enough that a 625-edge scores file stays under a megabyte."""


def top_spectra(spectra: PairSpectra, keep: int = SPECTRUM_KEEP) -> tuple[tuple[Optional[tuple[float, ...]], ...], ...]:
    """The ``keep`` largest singular values of every pair as plain floats (None where unpaired)."""
    return tuple(tuple(None if sv is None else tuple(float(x) for x in sv[:keep]) for sv in row)
                 for row in spectra.values)


def score_matrices(spectra: PairSpectra, rtol: Optional[float] = None, *,
                   warn: bool = True) -> dict[str, list[list[Optional[float]]]]:
    """n x n matrices (``[src][dst]``, ``None`` for unpaired points) of every metric.

    ``rtol=None`` uses the default tolerance of each pair's shape (``metrics.default_rtol``).
    Warns with ``RankSaturationWarning`` when ranks reach min(tokens, d_i, d_j).
    """
    n = len(spectra.widths)
    out = {m: [[None] * n for _ in range(n)] for m in METRICS}
    caps = []
    for i in range(n):
        for j in range(n):
            sv = spectra.values[i][j]
            if sv is None:
                continue
            tol = resolve_rtol(rtol, spectra.widths[i], spectra.widths[j])
            for name, value in all_metrics(sv, tol).items():
                out[name][i][j] = value
            caps.append((int(out["rank"][i][j]), spectra.tokens[i], spectra.widths[i], spectra.widths[j]))
    if warn:
        warn_if_saturated(caps, stacklevel=3)
    return out
