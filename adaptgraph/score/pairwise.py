"""Singular values of every G_ij = H_i^T Delta_j, for all n^2 ordered pairs of points.

How the work is shared between pairs (N tokens, widths d_i):

* Each point is factorised once. When N < d_i, the QR factorisation H_i^T = Q R gives
  H_i = A_i Q^T with A_i = R^T (N x N) and Q orthonormal, so sv(H_i^T Delta_j) =
  sv(A_i^T B_j): a core of size N x N instead of d_i x d_j. When N >= d_i there is
  nothing to shrink and A_i = H_i.
* All cores of one source come from ONE product A_i^T [B_1 ... B_n] (float64). When every point
  has N < d_i, the sources' factors are lower triangular (R^T) and the destinations' upper
  triangular (``factor_rows(upper=True)``, a QL factorisation), so every core is upper triangular:
  its product and its Gram skip the zero blocks (``core_products``, ``small_gram``).
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
from typing import Callable, Hashable, NamedTuple, Optional, Sequence

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


def core_spectrum(core: torch.Tensor, precise: bool = False, upper: bool = False) -> torch.Tensor:
    """Descending singular values of a (float64) core, or of a batch ``(..., a, b)`` of cores.

    Large cores go through the eigenvalues of their smaller Gram matrix (see module docstring);
    ``upper``: the cores are square upper triangular (``small_gram``).
    """
    core = core.to(torch.float64)
    if min(core.shape[-2:]) == 0:
        return core.new_zeros(*core.shape[:-2], 0)
    if core.dim() > 2 and core.shape[0] > 1 and core.device.type == "cpu":
        chunks = core.flatten(0, -3).chunk(torch.get_num_threads())
        parts = map_single_threaded(lambda c: _spectrum(c, precise, upper), chunks)
        return torch.cat(parts).reshape(*core.shape[:-2], -1)
    return _spectrum(core, precise, upper)


def _spectrum(core: torch.Tensor, precise: bool, upper: bool) -> torch.Tensor:
    if precise or min(core.shape[-2:]) < GRAM_MIN_SIZE:
        return torch.linalg.svdvals(core)
    return torch.linalg.eigvalsh(small_gram(core, upper)).clamp_min(0.0).sqrt().flip(-1)


TRIANGLE_BLOCKS = 8
"""Row and column blocks of the triangular core products and column panels of their Grams (zero blocks
skipped; see ``core_products`` and ``small_gram``)."""


GRAM_PANELS = 3
"""Column panels of ``small_gram``: each computes its diagonal block and what lies below it."""


def small_gram(core: torch.Tensor, upper: bool = False) -> torch.Tensor:
    """The smaller Gram matrix of a core, C^T C or C C^T (batched), symmetric.

    Computed by column panels below the diagonal and mirrored: about 2/3 of the flops of one matmul
    (measured on ViT-B's cores, N = 394: 3.0 ms against 4.2 ms per core on one thread). ``upper``: the
    cores are square and upper triangular (``core_products``), so a column panel ending at column c has no
    rows below c; with ``TRIANGLE_BLOCKS`` panels that leaves about 0.23 of one matmul's flops."""
    x = core if core.shape[-1] <= core.shape[-2] else core.mT
    k = x.shape[-1]
    panels = TRIANGLE_BLOCKS if upper else GRAM_PANELS
    if k < 2 * panels:
        return x.mT @ x
    cuts = [round(k * p / panels) for p in range(panels + 1)]
    gram = x.new_empty(*x.shape[:-2], k, k)
    for c0, c1 in zip(cuts[:-1], cuts[1:]):
        rows = c1 if upper else x.shape[-2]
        gram[..., c0:, c0:c1] = x[..., :rows, c0:].mT @ x[..., :rows, c0:c1]
        gram[..., c0:c1, c1:] = gram[..., c1:, c0:c1].mT
    return gram


GRAM_CHUNK_BYTES = 2 ** 21
"""Grams worked on at once per thread (counted, or their spectra taken, before the next are formed): about
one core's L2 cache on the machines measured, so that each Gram is still in cache when LAPACK reads it
(ViT-B, N = 394, 1.2 MB per Gram: the rank stage took 12% less time on one thread, about 7% less on two,
than with all 25 Grams of a source formed first)."""


def edge_chunks(count: int, size: int, device: torch.device = torch.device("cpu")) -> list[tuple[int, int]]:
    """``(lo, hi)`` ranges of ``count`` edges whose ``size x size`` float64 Grams fit ``GRAM_CHUNK_BYTES``
    (on a CPU; on an accelerator one range, as its kernels want large batches, not a cache)."""
    if device.type != "cpu":
        return [(0, count)] if count else []
    step = max(1, GRAM_CHUNK_BYTES // max(1, 8 * size * size))
    return [(lo, min(lo + step, count)) for lo in range(0, count, step)]


def column_blocks(cores: torch.Tensor, bounds: Sequence[tuple[int, int]], ks: Sequence[int], width: int) -> torch.Tensor:
    """The batch ``(len(ks), rows, width)`` of the column blocks ``cores[:, bounds[k][0]:][:, :width]``: a view
    (no copy) when the blocks lie side by side, as they do when all points share one width."""
    lo = bounds[ks[0]][0]
    if all(bounds[k][0] == lo + m * width for m, k in enumerate(ks)):
        return cores[:, lo:lo + len(ks) * width].unflatten(1, (len(ks), width)).transpose(0, 1)
    return torch.stack([cores[:, bounds[k][0]:bounds[k][0] + width] for k in ks])


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


def per_block(cores: torch.Tensor, bounds: Sequence[tuple[int, int]], keys: Sequence[Hashable],
              fn: Callable[[Hashable, torch.Tensor], Sequence]) -> list:
    """One result per column block ``cores[:, lo:hi]`` of ``bounds``: ``fn(key, batch)`` on the blocks of equal
    width and ``keys[k]``, batched a few at a time (``column_blocks``, ``edge_chunks``)."""
    out: list = [None] * len(bounds)
    groups: dict[tuple[int, Hashable], list[int]] = {}
    for k, (lo, hi) in enumerate(bounds):
        groups.setdefault((hi - lo, keys[k]), []).append(k)
    for (width, key), ks in groups.items():
        stack = column_blocks(cores, bounds, ks, width)
        for lo, hi in edge_chunks(len(ks), min(stack.shape[-2:]), stack.device):
            for k, result in zip(ks[lo:hi], fn(key, stack[lo:hi])):
                out[k] = result
    return out


def row_spectra(cores: torch.Tensor, bounds: Sequence[tuple[int, int]], precise: bool,
                upper: bool = False) -> list[torch.Tensor]:
    """Spectra of the column blocks ``cores[:, lo:hi]`` (``upper``: square upper triangular cores, see
    ``small_gram``)."""
    return per_block(cores, bounds, [None] * len(bounds), lambda _, batch: core_spectrum(batch, precise, upper))


def factor_rows(x: torch.Tensor, upper: bool = False) -> torch.Tensor:
    """A (N x k, float64) with x = A Q^T for some Q with orthonormal columns, k = min(N, d).

    Singular values of A^T B equal those of x^T y, so pairs can use A instead of x. When
    N < d, A = R^T from the QR factorisation x^T = Q R: a Householder QR of the d x N
    matrix costs about a sixth of the thin SVD it replaces (25 ViT-B points, 394 x 768,
    on the 2-core machine: 1.0 s against 6.3 s) and is backward stable like it. Unlike the
    SVD it does not drop numerically zero directions, so a low-rank x keeps an N-wide core
    whose extra singular values are at rounding level (about 1e-16 * ||x|| ||y||), far
    under any rank tolerance this package uses.

    A is lower triangular, or with ``upper`` upper triangular: A = L^T from the QL factorisation
    x^T = Q L, which is the QR factorisation of x^T with its columns reversed (x^T J = Q' R gives
    x^T = (Q' J)(J R J), and J R J is lower triangular). ``core_products`` pairs a lower A_i with an
    upper B_j, whose core A_i^T B_j is then upper triangular.
    """
    x = x.to(torch.float64)
    n, d = x.shape
    if n >= d or n == 0:
        return x
    if upper:
        return torch.linalg.qr(x.T.flip(-1), mode="r")[1].flip(0, 1).T
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
    rows = pair_rows(members, hs, ds, lambda row: row_spectra(row.cores, row.bounds, precise, row.upper), tick)
    for i, row in rows:
        for j, sv in zip(members, row):
            values[i][j] = sv


class CoreRow(NamedTuple):
    """The cores of one source with every destination of its group, as ``pair_rows`` hands them on."""

    source: int
    cores: torch.Tensor
    """``cores[:, lo:hi]``: the core A_i^T B_j of destination j, ``(lo, hi) = bounds[j]``."""
    bounds: list[tuple[int, int]]
    upper: bool
    """Every core is square and upper triangular (``core_products``)."""


def pair_rows(members: Sequence[int], hs: Sequence[torch.Tensor], ds: Sequence[torch.Tensor],
              per_row: Callable[[CoreRow], list], tick: Optional[Callable[[], None]]) -> list[tuple[int, list]]:
    """``(i, per_row(CoreRow(i, cores, bounds, upper)))`` for each source i of one group of aligned points,
    where ``cores[:, lo:hi]`` are the cores A_i^T B_j of i and every destination j (``bounds``), from ONE
    matmul; the sources run in parallel threads on the CPU (``map_single_threaded``)."""
    check_group_rows(members, hs)
    each = mapper(hs)
    triangular = all(x.shape[0] < x.shape[1] for x in [*hs, *ds])
    factors = each(lambda job: factor_rows(*job), [(x, False) for x in hs] + [(y, triangular) for y in ds])
    a, b = factors[:len(hs)], factors[len(hs):]
    bounds = block_bounds([x.shape[1] for x in b])
    cores_of = core_products(a, b, triangular=triangular)

    def source_row(source: tuple[int, torch.Tensor]) -> list:
        i, ai = source
        out = per_row(CoreRow(i, cores_of(ai), bounds, triangular))  # every core with source i in one product
        if tick is not None:
            tick()
        return out

    return list(zip(members, each(source_row, list(zip(members, a)))))


def check_group_rows(members: Sequence[int], hs: Sequence[torch.Tensor]) -> None:
    """ScoreError unless the points grouped together have one token count."""
    rows = {x.shape[0] for x in hs}
    if len(rows) != 1:
        raise ScoreError(f"points {list(members)} are grouped together but have different token "
                         f"counts {sorted(rows)}; give them different group labels")


def mapper(tensors: Sequence[torch.Tensor]) -> Callable[[Callable, Sequence], list]:
    """``map_single_threaded`` for tensors on the CPU, else a plain loop (an accelerator runs one batch at a time)."""
    return map_single_threaded if all(x.device.type == "cpu" for x in tensors) else _map


def core_products(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor],
                  triangular: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function giving ``a_i^T [b_1 ... b_m]`` (every core of source i, one row) for each ``a_i`` of ``a``.

    When every a_i is a square lower triangular R_i^T and every b_j a square upper triangular factor
    (``triangular``: all points have fewer tokens than features, and ``factor_rows`` gave R^T for the sources
    and, with ``upper``, L^T for the destinations), each core R_i b_j is an upper times an upper triangular
    matrix, itself upper triangular: entry (s, t) sums over s <= k <= t only. Cut into ``TRIANGLE_BLOCKS`` row
    and column blocks, the zero blocks are skipped and left zero, which leaves 120 of 512 block products
    (about 0.23 of one matmul's flops; N^3 / 3 is the limit of finer blocks). Pairing R_i with R_j^T instead
    gave an upper times a lower triangular matrix, a full core and twice the flops.
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
        out = at.new_zeros(size, n, size)
        for bi, (r0, r1) in enumerate(spans):
            for bj, (c0, c1) in enumerate(spans[bi:], start=bi):
                out[r0:r1, :, c0:c1] = (at[r0:r1, r0:c1] @ panels[bj][r0:c1]).view(r1 - r0, n, c1 - c0)
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
