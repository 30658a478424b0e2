"""Frobenius norms of every G_ij = H_i^T Delta_j without any spectrum.

    ||H_i^T Delta_j||_F^2 = sum_{t,s} (H_i H_i^T)_{ts} (Delta_j Delta_j^T)_{ts} = <K_i, L_j>

so with the token Grams K_i = H_i H_i^T and L_j = Delta_j Delta_j^T (N x N) all n^2 squared
norms are ONE matrix product of the flattened Grams, (n x N^2) (N^2 x n). The other way
round (feature side) forms each G_ij (d_i x d_j) and takes its norm. Multiply-adds:

* token side: 2 N^2 sum(d) for the Grams + n^2 N^2 for the inner products;
* feature side: N sum(d)^2 for all G_ij.

``pair_fro`` takes the cheaper one (the token side while N < sum(d)^2 / (2 sum(d) + n^2),
about 9,400 tokens for ViT-B's 25 points of width 768), in float64, with the token rows cut
into chunks so that the Grams in memory stay under ``budget_bytes``.

Why nothing else here: every other metric of this package needs more than the two Grams.
The nuclear norm and the effective rank need every singular value; the numerical rank
needs the largest one (its threshold is relative) and a count of those above a threshold;
a stable rank ||G||_F^2 / ||G||_2^2 needs the largest. The largest singular value comes
from iterating on each pair's N x N Gram; measured on the 2-core machine for the 25
edges of one ViT-B source (N = 394), 20 steps of a block-8 subspace iteration took 0.45 s,
more than the full ``eigvalsh`` of the same 25 Grams (0.33 s), so it saves nothing here.
"""
from __future__ import annotations

from typing import Hashable, Optional, Sequence

import torch

from .pairwise import _check_pair_lists, _default_groups, block_bounds, group_members

BUDGET_BYTES = 256 * 2**20
"""Memory for the token Grams of one chunk of rows (all points together)."""


def fro_side(tokens: int, widths: Sequence[int]) -> str:
    """``"tokens"`` or ``"features"``: the cheaper way to get the norms of one group (see module docstring)."""
    total, n = sum(widths), len(widths)
    token_cost = 2 * tokens * tokens * total + n * n * tokens * tokens
    return "tokens" if token_cost <= tokens * total * total else "features"


def pair_fro(h: Sequence[torch.Tensor], d: Sequence[torch.Tensor], *, groups: Optional[Sequence[Hashable]] = None,
             budget_bytes: int = BUDGET_BYTES) -> list[list[Optional[float]]]:
    """n x n Frobenius norms ``[src][dst]`` of H_i^T Delta_j; ``None`` where rows do not align.

    Same inputs and pairing rule as ``pairwise.pair_spectra`` (tokens x d_i per point).
    """
    _check_pair_lists(h, d)
    n = len(h)
    out: list[list[Optional[float]]] = [[None] * n for _ in range(n)]
    for members in group_members(_default_groups(h, groups)).values():
        hs, ds = [h[i] for i in members], [d[i] for i in members]
        tokens = hs[0].shape[0]
        if fro_side(tokens, [x.shape[1] for x in hs]) == "tokens":
            squares = _token_side(hs, ds, budget_bytes)
        else:
            squares = _feature_side(hs, ds)
        for a, i in enumerate(members):
            for b, j in enumerate(members):
                out[i][j] = float(squares[a, b].clamp_min(0.0).sqrt())
    return out


def fro_from_sums(total: torch.Tensor, widths: Sequence[int]) -> torch.Tensor:
    """Norms of the blocks of ``total`` = [H_1 ... H_m]^T [Delta_1 ... Delta_m] (m x m, float64)."""
    bounds = block_bounds(widths)
    return torch.stack([torch.stack([total[r0:r1, c0:c1].double().norm() for c0, c1 in bounds])
                        for r0, r1 in bounds])


def _token_side(hs, ds, budget_bytes: int) -> torch.Tensor:
    hs = [x.to(torch.float64) for x in hs]
    ds = [x.to(torch.float64) for x in ds]
    m, tokens = len(hs), hs[0].shape[0]
    rows = max(1, budget_bytes // (2 * 8 * m * max(tokens, 1)))
    squares = hs[0].new_zeros(m, m)
    for t0 in range(0, tokens, rows):
        t1 = min(tokens, t0 + rows)
        k = torch.stack([x[t0:t1] @ x.T for x in hs]).reshape(m, -1)
        l_ = torch.stack([y[t0:t1] @ y.T for y in ds]).reshape(m, -1)
        squares += k @ l_.T
    return squares


def _feature_side(hs, ds) -> torch.Tensor:
    d_all = torch.cat([y.to(torch.float64) for y in ds], dim=1)
    bounds = block_bounds([y.shape[1] for y in ds])
    rows = []
    for x in hs:
        g = x.to(torch.float64).T @ d_all
        rows.append(torch.stack([g[:, c0:c1].pow(2).sum() for c0, c1 in bounds]))
    return torch.stack(rows)
