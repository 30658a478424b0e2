"""Accumulating activations and gradients over batches, with bounded memory.

G_ij over several batches is the sum of the per-batch H_i^T Delta_j, which is the same
as stacking the token rows of all batches. Two ways to keep what is needed:

* ``rows``: keep the token rows of every point (2 N sum(d) floats in the input dtype).
  Cheapest when N < d, because pairs then reduce to N x N cores (see ``pairwise``).
* ``sums``: keep the running G_ij of all pairs in float64 (sum(d)^2 numbers per group of
  aligned points), whatever N is. Needed when there are too many tokens to keep.

``auto`` (the default) keeps rows while they take less memory than the sums and
converts once they would not (that is, once N exceeds about sum(d) / 2 * 8 / itemsize).
``tokens_per_batch`` keeps a seeded random subset of token rows of each batch (the
same rows for all points of a group, so that pairs still align).
"""
from __future__ import annotations

from typing import Callable, Hashable, Optional, Sequence

import torch

from adaptgraph.errors import ScoreError

from .norms import fro_from_sums, pair_fro
from .pairwise import PairSpectra, block_bounds, group_members, pair_spectra, row_spectra
from .ranks import pair_ranks, sums_ranks

STORES = ("auto", "rows", "sums")


class PairwiseAccumulator:
    """Collects H_i and Delta_i of n points over batches; ``spectra()`` gives every pair's."""

    def __init__(self, widths: Sequence[int], *, groups: Optional[Sequence[Hashable]] = None,
                 store: str = "auto", tokens_per_batch: Optional[int] = None, seed: int = 0):
        if store not in STORES:
            raise ScoreError(f"unknown store {store!r}; choose one of {', '.join(STORES)}")
        if tokens_per_batch is not None and tokens_per_batch < 1:
            raise ScoreError(f"tokens_per_batch must be >= 1, got {tokens_per_batch}")
        self.widths = tuple(int(w) for w in widths)
        self.store = store
        self.tokens_per_batch = tokens_per_batch
        self._groups = list(groups) if groups is not None else None
        if self._groups is not None and len(self._groups) != len(self.widths):
            raise ScoreError(f"got {len(self._groups)} group labels for {len(self.widths)} points")
        self._gen = torch.Generator().manual_seed(seed)
        self._rows: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = [([], []) for _ in self.widths]
        self._sums: Optional[dict[Hashable, torch.Tensor]] = None
        self._tokens = [0] * len(self.widths)
        self.batches = 0

    @property
    def tokens(self) -> tuple[int, ...]:
        """Token rows accumulated per point (after subsampling)."""
        return tuple(self._tokens)

    @property
    def n_points(self) -> int:
        """Number of points."""
        return len(self.widths)

    @property
    def mode(self) -> str:
        """``rows`` or ``sums``: what is being kept right now."""
        return "sums" if self._sums is not None else "rows"

    def add(self, h: Sequence[torch.Tensor], d: Sequence[torch.Tensor]) -> None:
        """Add one batch: ``h[i]``, ``d[i]`` are tokens x d_i for point i."""
        self._check_batch(h, d)
        if self._groups is None:
            self._groups = [x.shape[0] for x in h]  # rows that align in the first batch pair up
        members = group_members(self._groups)
        for g, idx in members.items():
            sel = self._subsample(g, idx, h)
            hs = [h[i].detach()[sel] if sel is not None else h[i].detach() for i in idx]
            ds = [d[i].detach()[sel] if sel is not None else d[i].detach() for i in idx]
            for i, a, b in zip(idx, hs, ds):
                self._tokens[i] += a.shape[0]
            if self.store == "sums" or self._sums is not None:
                self._add_sums(g, hs, ds)
            else:
                for i, a, b in zip(idx, hs, ds):
                    self._rows[i][0].append(a)
                    self._rows[i][1].append(b)
        self.batches += 1
        if self.store == "auto" and self._sums is None and self._row_bytes() > self._sum_bytes():
            self._convert_to_sums()

    def spectra(self, precise: bool = False, tick: Optional[Callable[[], None]] = None) -> PairSpectra:
        """Singular values of the accumulated H_i^T Delta_j for every pair of aligned points.

        ``tick()`` is called once per source point (for progress bars).
        """
        if self.batches == 0:
            raise ScoreError("no batch was added; call add() at least once before spectra()")
        if self._sums is None:
            h = [torch.cat(r[0]) for r in self._rows]
            d = [torch.cat(r[1]) for r in self._rows]
            out = pair_spectra(h, d, groups=self._groups, precise=precise, tick=tick)
            return PairSpectra(out.values, self.tokens, self.widths)
        return self._spectra_from_sums(precise, tick)

    def ranks(self, rtol: Optional[float] = None, precise: bool = False,
              tick: Optional[Callable[[], None]] = None) -> list[list[Optional[int]]]:
        """Numerical ranks ``[src][dst]`` of the accumulated H_i^T Delta_j without their spectra (``ranks``);
        ``rtol=None``: float32 eps * max(d_i, d_j). ``tick()`` is called once per source point."""
        if self.batches == 0:
            raise ScoreError("no batch was added; call add() at least once before ranks()")
        if self._sums is None:
            return pair_ranks([torch.cat(r[0]) for r in self._rows], [torch.cat(r[1]) for r in self._rows],
                              rtol=rtol, groups=self._groups, precise=precise, tick=tick)
        n = len(self.widths)
        out: list[list[Optional[int]]] = [[None] * n for _ in range(n)]
        for g, idx in group_members(self._groups).items():
            block = sums_ranks(self._sums[g], [self.widths[i] for i in idx], rtol, precise, tick)
            for a, i in enumerate(idx):
                for b, j in enumerate(idx):
                    out[i][j] = block[a][b]
        return out

    def fro(self) -> list[list[Optional[float]]]:
        """Frobenius norms ``[src][dst]`` of the accumulated H_i^T Delta_j, without any spectrum (``norms``)."""
        if self.batches == 0:
            raise ScoreError("no batch was added; call add() at least once before fro()")
        if self._sums is None:
            return pair_fro([torch.cat(r[0]) for r in self._rows], [torch.cat(r[1]) for r in self._rows],
                            groups=self._groups)
        n = len(self.widths)
        out: list[list[Optional[float]]] = [[None] * n for _ in range(n)]
        for g, idx in group_members(self._groups).items():
            norms = fro_from_sums(self._sums[g], [self.widths[i] for i in idx])
            for a, i in enumerate(idx):
                for b, j in enumerate(idx):
                    out[i][j] = float(norms[a, b])
        return out

    # -- internals -----------------------------------------------------------
    def _check_batch(self, h, d) -> None:
        n = len(self.widths)
        if len(h) != n or len(d) != n:
            raise ScoreError(f"expected {n} activation and gradient matrices (one per point), "
                             f"got {len(h)} and {len(d)}")
        for i, (a, b) in enumerate(zip(h, d)):
            if a.dim() != 2 or a.shape != b.shape or a.shape[1] != self.widths[i]:
                raise ScoreError(f"point {i}: expected H and Delta of shape (tokens, {self.widths[i]}), "
                                 f"got {tuple(a.shape)} and {tuple(b.shape)}")

    def _subsample(self, group, idx, h) -> Optional[torch.Tensor]:
        rows = {h[i].shape[0] for i in idx}
        if len(rows) != 1:
            raise ScoreError(f"points {idx} (group {group!r}) had aligned token rows in the first "
                             f"batch but now have {sorted(rows)} rows; group them explicitly")
        (count,) = rows
        k = self.tokens_per_batch
        if k is None or count <= k:
            return None
        pick = torch.randperm(count, generator=self._gen)[:k].sort().values
        return pick.to(h[idx[0]].device)

    def _add_sums(self, group, hs, ds) -> None:
        if self._sums is None:
            self._sums = {}
        prod = torch.cat(hs, dim=1).to(torch.float64).T @ torch.cat(ds, dim=1).to(torch.float64)
        if group in self._sums:
            self._sums[group] += prod
        else:
            self._sums[group] = prod

    def _row_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for pair in self._rows for part in pair for t in part)

    def _sum_bytes(self) -> int:
        widths = {}
        for i, g in enumerate(self._groups or []):
            widths[g] = widths.get(g, 0) + self.widths[i]
        return sum(w * w * 8 for w in widths.values())

    def _convert_to_sums(self) -> None:
        self._sums = {}
        for g, idx in group_members(self._groups).items():
            hs = [torch.cat(self._rows[i][0]) for i in idx]
            ds = [torch.cat(self._rows[i][1]) for i in idx]
            self._add_sums(g, hs, ds)
        self._rows = [([], []) for _ in self.widths]

    def _spectra_from_sums(self, precise: bool, tick) -> PairSpectra:
        n = len(self.widths)
        values = [[None] * n for _ in range(n)]
        for g, idx in group_members(self._groups).items():
            bounds = block_bounds([self.widths[i] for i in idx])
            total = self._sums.get(g)
            for (r0, r1), i in zip(bounds, idx):
                for j, sv in zip(idx, row_spectra(total[r0:r1], bounds, precise)):
                    values[i][j] = sv
                if tick is not None:
                    tick()
        return PairSpectra(tuple(tuple(r) for r in values), self.tokens, self.widths)
