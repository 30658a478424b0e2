"""Numerical ranks of every G_ij = H_i^T Delta_j without their spectra.

The rank of G counts its singular values above ``rtol * sigma_max`` (``metrics.numerical_rank``).
With the per-point factors of ``pairwise`` (sv(G_ij) = sv(C) for the core C = A_i^T B_j), that is
the number of eigenvalues of the smaller Gram matrix M of C (float64, as in the spectra path) above
tau = rtol^2 lambda_max(M), i.e. the number of positive eigenvalues of M - tau I (Sylvester's law of
inertia). That count is read off ONE Bunch-Kaufman factorisation M - tau I = L D L^T
(``torch.linalg.ldl_factor``: a positive 1x1 pivot of D is one positive eigenvalue, and each 2x2
pivot block, whose determinant Bunch-Kaufman keeps negative, is one positive and one negative):
about N^3 / 3 flops, blocked, instead of a symmetric eigensolver's tridiagonal reduction (about
4 N^3 / 3 flops, half of them matrix-vector). Nothing is inverted, so no condition number enters.

lambda_max comes from a few power iterations on M, with a bracket that is proved, not guessed: the
Rayleigh quotient theta of any unit vector is <= lambda_max, and lambda_2 <= a = sqrt(||M||_F^2 -
theta^2), so when a < theta the Kato-Temple bound gives lambda_max <= theta + r^2 / (theta - a), r the
residual norm. An edge is counted once that bracket is narrower, relative to lambda_max, than
``N eps64 / rtol^2``: tau then moves by less than the rounding error (about N eps64 lambda_max)
that M's eigenvalues carry in the spectra path as well, so the count is that path's up to the same
rounding. Where the top of the spectrum is too flat for a < theta (on MiniLM's first and last
points), the iterations run until theta stops moving, and a Cholesky factorisation of
(1 + N eps64 / rtol^2) theta I - M that succeeds proves lambda_max below its shift (N^3 / 3 flops,
as the LDL^T). Gradients' spectra mostly fall fast at the top, so a few iterations do; an edge that
passes neither test within ``MAX_ITERATIONS`` is counted from its exact spectrum (``eigvalsh``).

When every point of a group has fewer tokens than features (so the factors are square and triangular),
``pair_ranks`` first counts from per-point matrices instead of cores (``score.pencil``: one LDL^T per edge
where the cores need a core, its Gram and an LDL^T), and only the edges that path cannot vouch for (an
ill-conditioned or singular destination, activations loaded where the gradients are not, an uncertified
lambda_max) go through the cores described above.

Against ``torch.linalg.matrix_rank`` of the explicit float32 gradient (the naive loop), both paths
may differ where a singular value lies within that gradient's float32 rounding (about 1e-7 of
sigma_max times ||H_i|| ||Delta_j|| / ||G_ij||) of the threshold: noise of the float32 gradient.
"""
from __future__ import annotations

from typing import Callable, Hashable, Optional, Sequence

import torch

from .inertia import EPS64, count_width, positive_count
from .metrics import numerical_rank, resolve_rtol, warn_if_saturated
from .pairwise import (GRAM_MIN_SIZE, CoreRow, _check_pair_lists, _default_groups, block_bounds, check_group_rows,
                       core_products, core_spectrum, factor_rows, group_members, mapper, pair_rows,
                       per_block, small_gram)
from .pencil import Pencil, row_counts, top_eigenvalues

MAX_ITERATIONS = 30
"""Power iterations before an edge falls back to its spectrum."""


def core_ranks(cores: torch.Tensor, rtol: float, precise: bool = False, upper: bool = False) -> list[int]:
    """Numerical ranks (``numerical_rank(svdvals(core), rtol)``) of a batch ``(b, p, q)`` of cores
    (``upper``: square upper triangular ones, see ``pairwise.small_gram``)."""
    cores = cores.to(torch.float64)
    if min(cores.shape[-2:]) == 0:
        return [0] * cores.shape[0]
    if precise or rtol == 0 or min(cores.shape[-2:]) < GRAM_MIN_SIZE:
        return [numerical_rank(sv, rtol) for sv in core_spectrum(cores, precise)]
    return gram_ranks(small_gram(cores, upper), rtol, overwrite=True)


def gram_ranks(gram: torch.Tensor, rtol: float, overwrite: bool = False) -> list[int]:
    """Number of eigenvalues above ``rtol^2 lambda_max`` of each PSD matrix of a batch ``(b, k, k)``
    (``overwrite``: ``gram`` may be overwritten)."""
    lam, done = top_eigenvalue(gram, rtol)
    ranks = torch.zeros(gram.shape[0], dtype=torch.long)
    rest = (~done).nonzero().flatten()
    if rest.numel():  # no certified lambda_max: the exact spectrum, as in the spectra path
        for k, ev in zip(rest.tolist(), torch.linalg.eigvalsh(gram[rest])):
            ranks[k] = numerical_rank(ev.clamp_min(0.0).sqrt(), rtol)
    ok = done & (lam > 0)
    if ok.all():
        ranks = inertia_above(gram, (rtol * rtol) * lam, in_place=overwrite)
    elif ok.any():
        ranks[ok] = inertia_above(gram[ok], (rtol * rtol) * lam[ok], in_place=True)
    return ranks.tolist()


def inertia_above(gram: torch.Tensor, tau: torch.Tensor, in_place: bool = False) -> torch.Tensor:
    """Number of eigenvalues of each ``gram[b]`` strictly above ``tau[b]``, from one LDL^T of gram - tau I
    (``in_place``: shift ``gram`` itself instead of a copy)."""
    shifted = gram if in_place else gram.clone()
    shifted.diagonal(dim1=-2, dim2=-1).sub_(tau[:, None])
    return positive_count(shifted)


def top_eigenvalue(gram: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda_max, certified) per PSD matrix of a batch: power iterations until lambda_max is known to a
    relative ``N eps64 / rtol^2`` (module docstring), by the Kato-Temple bracket or, where the top of the
    spectrum is too flat for it, by a Cholesky factorisation of (1 + that) theta I - M that succeeds."""
    b, k = gram.shape[0], gram.shape[-1]
    width = count_width(k, rtol)
    frob2 = torch.linalg.vector_norm(gram, dim=(-2, -1)).square()
    start = gram.diagonal(dim1=-2, dim2=-1).argmax(-1)
    v = gram[torch.arange(b), :, start]  # the heaviest column: one power step already
    lam = torch.zeros(b, dtype=gram.dtype, device=gram.device)
    done = frob2 == 0  # a zero matrix: rank 0
    stalled = torch.zeros_like(done)
    todo = (~done).nonzero().flatten()
    for _ in range(MAX_ITERATIONS):
        if todo.numel() == 0:
            break
        every = todo.numel() == b
        m, x = (gram, v) if every else (gram[todo], v[todo])  # indexing copies
        x = x / x.norm(dim=-1, keepdim=True)
        w = (m @ x[..., None])[..., 0]
        theta = (x * w).sum(-1)  # nondecreasing over power iterations of a PSD matrix
        r2 = (w - theta[:, None] * x).square().sum(-1)
        a = (frob2[todo] - theta * theta).clamp_min(0.0).add(4 * k * EPS64 * frob2[todo]).sqrt()  # >= lambda_2
        ok = (a < theta) & (r2 <= width * theta * (theta - a))
        flat = ~ok & (theta - lam[todo] <= width * theta / 16)  # theta has stopped moving: try the Cholesky test
        lam[todo] = theta
        done[todo[ok]] = True
        stalled[todo[flat]] = True
        v[todo] = w
        todo = todo[~(ok | flat)]
    check = (stalled | ~done) & (frob2 > 0)
    if check.any():
        idx = check.nonzero().flatten()
        upper = (1 + width) * lam[idx]
        margin = -gram[idx]
        margin.diagonal(dim1=-2, dim2=-1).add_(upper[:, None])
        done[idx] = torch.linalg.cholesky_ex(margin).info == 0  # positive definite: lambda_max < upper
    return lam, done


def row_ranks(cores: torch.Tensor, bounds: Sequence[tuple[int, int]], rtols: Sequence[float],
              precise: bool, upper: bool = False) -> list[int]:
    """Ranks of the column blocks ``cores[:, lo:hi]`` (tolerance ``rtols[k]``; see ``pairwise.per_block``)."""
    return per_block(cores, bounds, rtols, lambda rtol, batch: core_ranks(batch, rtol, precise, upper))


def pair_ranks(h: Sequence[torch.Tensor], d: Sequence[torch.Tensor], *, rtol: Optional[float] = None,
               groups: Optional[Sequence[Hashable]] = None, precise: bool = False,
               tick: Optional[Callable[[], None]] = None) -> list[list[Optional[int]]]:
    """n x n numerical ranks ``[src][dst]`` of H_i^T Delta_j; ``None`` where rows do not align.

    Same inputs and pairing as ``pairwise.pair_spectra``; ``rtol=None``: float32 eps * max(d_i, d_j).
    Equal to ``numerical_rank`` of that function's spectra up to float64 rounding (module docstring). Groups
    with fewer tokens than features are counted from the pencil K_i - tau D_j^-1 (``score.pencil``), each edge
    it cannot certify from its core.
    """
    _check_pair_lists(h, d)
    n = len(h)
    out: list[list[Optional[int]]] = [[None] * n for _ in range(n)]
    widths = [x.shape[1] for x in h]
    for members in group_members(_default_groups(h, groups)).values():
        hs, ds = [h[i] for i in members], [d[i] for i in members]
        tols = [[resolve_rtol(rtol, widths[i], widths[j]) for j in members] for i in members]
        check_group_rows(members, hs)
        if _pencil_applies(hs, ds, tols, precise):
            rows = _pencil_rows(members, hs, ds, tols, tick)
        else:
            def row(core_row: CoreRow) -> list[int]:
                k = members.index(core_row.source)
                return row_ranks(core_row.cores, core_row.bounds, tols[k], precise, core_row.upper)

            rows = pair_rows(members, hs, ds, row, tick)
        for i, ranks in rows:
            for j, r in zip(members, ranks):
                out[i][j] = r
    return out


def _pencil_applies(hs, ds, tols, precise: bool) -> bool:
    """Triangular factors (fewer tokens than features), cores large enough for Grams, nonzero tolerances."""
    tokens = hs[0].shape[0]
    return (not precise and tokens >= GRAM_MIN_SIZE and all(x.shape[0] < x.shape[1] for x in [*hs, *ds])
            and all(t > 0 for row in tols for t in row))


def _pencil_rows(members, hs, ds, tols, tick) -> list[tuple[int, list[int]]]:
    """``(i, ranks of i -> every member)`` per source: counted from the pencil where it certifies an edge
    (``score.pencil``), from the core R_i B_j otherwise (B_j the pencil's QL factor, as ``pair_rows`` pairs
    them)."""
    pencil = Pencil(hs, ds, torch.tensor(tols, dtype=torch.float64, device=hs[0].device))
    lam, done = top_eigenvalues(pencil)
    tau = pencil.rtol.square() * lam
    size, m = hs[0].shape[0], len(members)
    positive, certified = (lam > 0).tolist(), done.tolist()
    each = mapper(hs)

    def row(k: int) -> list[int]:
        out = [0] * m  # certified with lambda_max 0: a zero gradient
        counted = [j for j in range(m) if certified[k][j] and positive[k][j]]
        for j, r in zip(counted, row_counts(pencil, k, counted, tau[k, counted])):
            out[j] = r
        rest = [j for j in range(m) if not certified[k][j]]
        if rest:
            a = factor_rows(hs[k])
            cores = core_products([a], [pencil.b[j] for j in rest], triangular=True)(a)  # B_j: the QL factor
            ranks = row_ranks(cores, block_bounds([size] * len(rest)), [tols[k][j] for j in rest], False, True)
            for j, r in zip(rest, ranks):
                out[j] = r
        if tick is not None:
            tick()
        return out

    return list(zip(members, each(row, range(m))))


def warn_saturated(ranks: Sequence[Sequence[Optional[int]]], tokens: Sequence[int], widths: Sequence[int], *,
                   stacklevel: int = 2) -> int:
    """``metrics.warn_if_saturated`` for an n x n rank matrix (None: no edge), as ``score_matrices`` warns."""
    caps = [(r, tokens[i], widths[i], widths[j]) for i, row in enumerate(ranks) for j, r in enumerate(row)
            if r is not None]
    return warn_if_saturated(caps, stacklevel=stacklevel + 1)


def sums_ranks(total: torch.Tensor, widths: Sequence[int], rtol: Optional[float], precise: bool,
               tick: Optional[Callable[[], None]] = None) -> list[list[int]]:
    """Ranks of the blocks of ``total`` = [H_1 ... H_m]^T [Delta_1 ... Delta_m] (the ``sums`` store)."""
    bounds = block_bounds(widths)
    out = []
    for (r0, r1), wi in zip(bounds, widths):
        out.append(row_ranks(total[r0:r1], bounds, [resolve_rtol(rtol, wi, wj) for wj in widths], precise))
        if tick is not None:
            tick()
    return out


__all__ = ["MAX_ITERATIONS", "core_ranks", "gram_ranks", "inertia_above", "pair_ranks", "sums_ranks",
           "top_eigenvalue", "warn_saturated"]
