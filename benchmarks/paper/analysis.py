"""Statistics of the protocol's CSV rows, shared by the experiment scripts (figures) and report.py (tables).

Plain numpy and scipy: no torch, so the report reads the CSVs without loading a model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation and range of repeated measurements (seeds or draws)."""

    mean: float
    sd: float
    lo: float
    hi: float
    n: int

    @property
    def range(self) -> float:
        return self.hi - self.lo

    def text(self, scale: float = 100.0, digits: int = 1) -> str:
        """``62.3 ± 1.2 (61.0-63.5, n=3)``: in percent by default."""
        f = f"{{:.{digits}f}}"
        if self.n == 1:
            return f.format(self.mean * scale) + " (n=1)"
        return (f"{f.format(self.mean * scale)} ± {f.format(self.sd * scale)} "
                f"({f.format(self.lo * scale)}-{f.format(self.hi * scale)}, n={self.n})")


def spread(values: Iterable[float]) -> Optional[Spread]:
    """The spread of the finite ``values``; None when there are none."""
    v = [float(x) for x in values if x is not None and x != "" and math.isfinite(float(x))]
    if not v:
        return None
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return Spread(float(np.mean(v)), sd, min(v), max(v), len(v))


def floats(rows: Sequence[dict], key: str) -> list[float]:
    """The column ``key`` of CSV rows as floats (empty cells dropped)."""
    return [float(r[key]) for r in rows if r.get(key) not in (None, "")]


def where(rows: Sequence[dict], **match) -> list[dict]:
    """Rows whose columns equal ``match`` (compared as strings, as CSV cells are)."""
    return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in match.items())]


def edge_values(rows: Sequence[dict], key: str = "val_acc") -> dict[tuple[int, int], float]:
    """``{(src, dst): value}`` of single-edge rows."""
    return {(int(r["src"]), int(r["dst"])): float(r[key]) for r in rows if r.get(key) not in (None, "")}


def heat_matrix(values: dict[tuple[int, int], float], n: int) -> np.ndarray:
    """An ``[src, dst]`` matrix of edge values, NaN where an edge has none."""
    m = np.full((n, n), np.nan)
    for (i, j), v in values.items():
        m[i, j] = v
    return m


def ranked_edges(rows: Sequence[dict]) -> list[dict]:
    """Single-edge rows from best to worst: validation accuracy, then lower validation loss, then edge order."""
    return sorted(rows, key=lambda r: (-float(r["val_acc"]), float(r["val_loss"]), int(r["dst"]), int(r["src"])))


@dataclass(frozen=True)
class Correlation:
    rho: float
    p: float
    n: int


def spearman(x: Sequence[float], y: Sequence[float]) -> Optional[Correlation]:
    """Spearman's rho of paired values (None for fewer than 3 pairs or a constant side)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    res = spearmanr(x, y)
    return Correlation(float(res.statistic), float(res.pvalue), int(len(x)))


def maps_correlation(a: dict[tuple[int, int], float], b: dict[tuple[int, int], float]) -> Optional[Correlation]:
    """Spearman correlation of two tasks' single-edge maps over the edges both have."""
    common = sorted(set(a) & set(b))
    return spearman([a[e] for e in common], [b[e] for e in common])


def top_share(values: dict[tuple[int, int], float], edge: tuple[int, int]) -> Optional[float]:
    """Fraction of edges that beat ``edge`` in ``values`` (0: it is the best); None if it is not there."""
    if edge not in values:
        return None
    return sum(v > values[edge] for v in values.values()) / len(values)
