"""Ranks for chosen edges under a parameter budget, from their gradient spectra.

The rule: maximise the gradient energy the adapters can follow, sum_e sum_{k <= r_e} s_{e,k}^2,
where s_{e,1} >= s_{e,2} >= ... are the singular values of edge e's probed gradient G_e.
That sum is the first-order loss decrease of one gradient step on adapters whose
down-projections span the top r_e singular directions of each G_e (``init = grad``): the
step's loss change is -lr ||P_e G_e||_F^2 with P_e that projection. Every chosen edge
keeps at least ``min_rank``; then, one rank at a time, the increment with the largest
gain per extra trainable parameter, s_{e,r_e+1}^2 / (params(r_e + 1) - params(r_e)),
is taken while it fits the budget. Because each edge's gains fall as its rank grows and
its cost per rank is constant, this greedy order is optimal for the budget it ends at
(it is the greedy solution of a knapsack with concave, separable gains) up to the last
increment that no longer fitted. Ties go to the earlier edge. An edge whose spectrum is
used up (rank = number of known singular values, or ``max_rank``) gets no more.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from adaptgraph.errors import ScoreError
from adaptgraph.spec.edge_facts import adapter_parameters

from .config import SELECT_DEFAULTS
from .edge_scores import EdgeScores, cost_options


@dataclass(frozen=True)
class Allocation:
    """Ranks per edge, what they cost and how much gradient energy they capture."""

    ranks: tuple[int, ...]
    params: int
    """Trainable parameters of all the adapters at these ranks."""
    energy: float
    """Captured fraction of the chosen edges' total squared gradient norm, in [0, 1]."""


def allocate_ranks(spectra: Sequence[Sequence[float]], params: Sequence[Callable[[int], int]], budget: int, *,
                   min_rank: int = 1, max_rank: Optional[int] = None) -> Allocation:
    """Ranks for edges with singular values ``spectra[e]`` (descending) and cost ``params[e](rank)``.

    ``budget``: the most trainable parameters of all adapters together. ScoreError when even
    ``min_rank`` everywhere does not fit.
    """
    if len(spectra) != len(params) or not spectra:
        raise ScoreError(f"got {len(spectra)} spectra for {len(params)} edges; give one spectrum and one cost "
                         "function per chosen edge (at least one)")
    if min_rank < 1 or (max_rank is not None and max_rank < min_rank):
        raise ScoreError(f"ranks must satisfy 1 <= min_rank <= max_rank, got {min_rank} and {max_rank}")
    squares = [sorted((float(s) ** 2 for s in sv), reverse=True) for sv in spectra]
    ranks = [min_rank] * len(spectra)
    spent = sum(cost(min_rank) for cost in params)
    if spent > budget:
        raise ScoreError(f"{len(spectra)} adapters of rank {min_rank} need {spent:,} parameters, more than the "
                         f"budget of {budget:,}", hint="raise the budget or choose fewer edges")
    heap = [_entry(e, min_rank, squares, params, max_rank) for e in range(len(spectra))]
    heap = [h for h in heap if h is not None]
    heapq.heapify(heap)
    while heap:
        _, e, extra = heapq.heappop(heap)
        if spent + extra > budget:
            continue  # this edge's next rank does not fit; cheaper increments of other edges may
        ranks[e] += 1
        spent += extra
        nxt = _entry(e, ranks[e], squares, params, max_rank)
        if nxt is not None:
            heapq.heappush(heap, nxt)
    total = sum(sum(sq) for sq in squares)
    kept = sum(sum(sq[:r]) for sq, r in zip(squares, ranks))
    return Allocation(tuple(ranks), spent, kept / total if total > 0 else 0.0)


def allocate_chosen(scores: EdgeScores, edges: Sequence[tuple[int, int]], budget: Optional[int] = None, *,
                    rank: int = SELECT_DEFAULTS.rank, bias: bool = SELECT_DEFAULTS.bias, max_rank: Optional[int] = None) -> Allocation:
    """Ranks for the chosen ``edges`` (``(src, dst)`` indices) from the spectra kept in ``scores``.

    ``budget`` defaults to what the edges cost at rank ``rank`` each, so allocation moves
    parameters between the edges without adding any.
    """
    if scores.spectra is None:
        why = (f"they were scored with metrics {', '.join(scores.metrics)} alone, which skip the spectra"
               if "erank" not in scores.metrics and "nuclear" not in scores.metrics
               else "they were saved before the spectra were kept")
        raise ScoreError(f"these scores keep no singular values, which rank allocation needs ({why})",
                         hint="score again with `adaptgraph score` (its default metrics keep them)")
    spectra = [scores.spectra[i][j] or () for i, j in edges]
    params = [lambda r, i=i, j=j: int(adapter_parameters(scores.widths[i], scores.widths[j], cost_options(r, bias)))
              for i, j in edges]
    if budget is None:
        budget = sum(p(rank) for p in params)
    return allocate_ranks(spectra, params, budget, max_rank=max_rank)


def _entry(e: int, rank: int, squares, params, max_rank) -> Optional[tuple[tuple[float, int], int, int]]:
    """Heap entry for raising edge ``e`` from ``rank`` to ``rank + 1``: (-(gain per parameter), e), e, cost."""
    if rank >= len(squares[e]) or (max_rank is not None and rank >= max_rank):
        return None
    gain = squares[e][rank]
    if gain <= 0.0:
        return None
    extra = params[e](rank + 1) - params[e](rank)
    return (-gain / extra, e), e, extra
