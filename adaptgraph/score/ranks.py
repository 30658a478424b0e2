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

Against ``torch.linalg.matrix_rank`` of the explicit float32 gradient (the naive loop), both paths
may differ where a singular value lies within that gradient's float32 rounding (about 1e-7 of
sigma_max times ||H_i|| ||Delta_j|| / ||G_ij||) of the threshold: noise of the float32 gradient.
"""
from __future__ import annotations

from typing import Callable, Hashable, Optional, Sequence

import torch

from .metrics import numerical_rank, resolve_rtol, warn_if_saturated
from .pairwise import (GRAM_MIN_SIZE, CoreRow, _check_pair_lists, _default_groups, block_bounds, core_spectrum,
                       group_members, pair_rows, per_block, small_gram)

MAX_ITERATIONS = 30
"""Power iterations before an edge falls back to its spectrum."""
EPS64 = float(torch.finfo(torch.float64).eps)


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
    ld, pivots, _ = torch.linalg.ldl_factor_ex(shifted)
    one = pivots > 0  # a 2x2 block has both of its pivot entries negative (LAPACK sytrf)
    positive = (ld.diagonal(dim1=-2, dim2=-1) > 0) & one
    return positive.sum(-1) + (~one).sum(-1) // 2


def top_eigenvalue(gram: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda_max, certified) per PSD matrix of a batch: power iterations until lambda_max is known to a
    relative ``N eps64 / rtol^2`` (module docstring), by the Kato-Temple bracket or, where the top of the
    spectrum is too flat for it, by a Cholesky factorisation of (1 + that) theta I - M that succeeds."""
    b, k = gram.shape[0], gram.shape[-1]
    width = min(k * EPS64 / (rtol * rtol), 1e-3)
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
    Equal to ``numerical_rank`` of that function's spectra up to float64 rounding (module docstring).
    """
    _check_pair_lists(h, d)
    n = len(h)
    out: list[list[Optional[int]]] = [[None] * n for _ in range(n)]
    widths = [x.shape[1] for x in h]
    for members in group_members(_default_groups(h, groups)).values():
        def row(core_row: CoreRow) -> list[int]:
            tols = [resolve_rtol(rtol, widths[core_row.source], widths[j]) for j in members]
            return row_ranks(core_row.cores, core_row.bounds, tols, precise, core_row.upper)

        for i, ranks in pair_rows(members, [h[i] for i in members], [d[i] for i in members], row, tick):
            for j, r in zip(members, ranks):
                out[i][j] = r
    return out


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
