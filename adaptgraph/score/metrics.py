"""Scores of one gradient matrix G = H^T Delta, computed from its singular values.

Every metric here takes the singular values (any order, float64 preferred), so the
expensive part, getting the spectrum of each of the n^2 pairs, happens once in
``pairwise`` and all metrics and tolerances reuse it.

Tolerance of the numerical rank
-------------------------------
A singular value counts when it exceeds ``rtol * sigma_max``. The default,
``FLOAT32_EPS * max(d_i, d_j)``, is the rule of ``numpy``/``torch``/``jax``
``matrix_rank`` for a float32 matrix of that shape (so it is the most likely reading
of the paper's "numerical rank", and anyone can reproduce a score with
``torch.linalg.matrix_rank(G.float())``). We use float32's epsilon even though the
spectra are computed in float64, because activations and gradients come out of a
float32 network: singular values below that level are rounding noise of the
forward and backward pass, not structure. Pass another ``rtol`` to be stricter or
looser; ``effective_rank`` needs no tolerance at all.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import torch

from adaptgraph.errors import ScoreError

from .config import METRICS  # noqa: F401  (re-exported: the metrics computed here)

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class RankSaturationWarning(UserWarning):
    """Numerical ranks reached their cap min(tokens, d_i, d_j): they cannot tell those edges apart."""


def default_rtol(d_in: int, d_out: int) -> float:
    """The default relative tolerance for a ``d_in x d_out`` gradient (float32 ``matrix_rank`` rule)."""
    return FLOAT32_EPS * max(d_in, d_out)


def resolve_rtol(rtol: Optional[float], d_in: int, d_out: int) -> float:
    """``rtol`` if given, else the default for this shape; rejects negative or non-finite values."""
    if rtol is None:
        return default_rtol(d_in, d_out)
    if not (isinstance(rtol, (int, float)) and math.isfinite(rtol) and rtol >= 0):
        raise ScoreError(f"rank tolerance must be a finite number >= 0, got {rtol!r}",
                         hint="use e.g. rtol=1e-3, or leave it unset for float32 eps * max(d_i, d_j)")
    return float(rtol)


def _as_values(sv: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(sv, dtype=torch.float64).flatten().clamp_min(0.0)


def numerical_rank(sv: torch.Tensor, rtol: float) -> int:
    """Number of singular values strictly above ``rtol * max(sv)``; 0 for a zero matrix."""
    s = _as_values(sv)
    if s.numel() == 0 or float(s.max()) == 0.0:
        return 0
    return int((s > rtol * s.max()).sum())


def effective_rank(sv: torch.Tensor) -> float:
    """Entropy effective rank (Roy & Vetterli 2007): exp of the entropy of ``sv / sum(sv)``.

    Between 1 (one direction) and the number of nonzero singular values (all equal);
    0 for a zero matrix. Needs no tolerance, unlike ``numerical_rank``.
    """
    s = _as_values(sv)
    total = float(s.sum()) if s.numel() else 0.0
    if total == 0.0:
        return 0.0
    p = s[s > 0] / total
    return float(torch.exp(-(p * p.log()).sum()))


def frobenius_norm(sv: torch.Tensor) -> float:
    """Frobenius norm: square root of the sum of squared singular values."""
    s = _as_values(sv)
    return float(torch.sqrt((s * s).sum())) if s.numel() else 0.0


def nuclear_norm(sv: torch.Tensor) -> float:
    """Nuclear norm: sum of the singular values."""
    s = _as_values(sv)
    return float(s.sum()) if s.numel() else 0.0


def all_metrics(sv: torch.Tensor, rtol: float) -> dict[str, float]:
    """Every metric of ``METRICS`` for one spectrum, rank as a float for uniform matrices."""
    return {
        "rank": float(numerical_rank(sv, rtol)),
        "erank": effective_rank(sv),
        "fro": frobenius_norm(sv),
        "nuclear": nuclear_norm(sv),
    }


def rank_cap(tokens: int, d_in: int, d_out: int) -> int:
    """The largest rank ``H^T Delta`` can have: min(tokens, d_in, d_out)."""
    return min(tokens, d_in, d_out)


def warn_if_saturated(ranks: list[tuple[int, int, int, int]], *, stacklevel: int = 2) -> int:
    """Warn when ranks hit their cap; ``ranks`` holds ``(rank, tokens, d_in, d_out)`` per edge.

    Returns the number of saturated edges. Token-limited saturation can be fixed by
    scoring on more tokens; width-limited saturation (a full-rank gradient) only by a
    looser tolerance or another metric, so the message says which one happened.
    """
    by_tokens = sum(1 for r, t, a, b in ranks if r > 0 and r == t and t <= min(a, b))
    by_width = sum(1 for r, t, a, b in ranks if r > 0 and r == min(a, b) and min(a, b) < t)
    if by_tokens:
        warnings.warn(
            f"{by_tokens} of {len(ranks)} edge ranks equal the number of tokens: the rank is capped "
            "by the data, not by the edge; score with more batches (or longer inputs) so that "
            "tokens exceed the widths", RankSaturationWarning, stacklevel=stacklevel)
    if by_width:
        warnings.warn(
            f"{by_width} of {len(ranks)} edge ranks equal min(d_i, d_j) (full-rank gradients): "
            "they cannot be told apart by rank; use a looser tolerance (e.g. rtol=1e-3) or the "
            "'erank' metric", RankSaturationWarning, stacklevel=stacklevel)
    return by_tokens + by_width
