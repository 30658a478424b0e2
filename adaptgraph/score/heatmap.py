"""Heat map of an ``EdgeScores`` metric: source points down, destination points across.

Reading it: row i, column j is the edge that reads point i and writes point j. The
diagonal holds the sequential (self) edges, outlined in white; parallel edges
(``@K -> @K+1``, ``PATH.in -> PATH.out``) are outlined dashed; cells above the
diagonal are the other forward (long-range) edges and cells below it the recurrent
ones, which need a second pass. Grey cells are pairs that cannot be edges.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from adaptgraph.errors import ScoreError
from adaptgraph.fileio import write_bytes_atomic

from .edge_scores import check_metric

if TYPE_CHECKING:
    from .edge_scores import EdgeScores

LABELS = {"rank": "numerical rank", "erank": "effective rank", "fro": "Frobenius norm", "nuclear": "nuclear norm"}


def draw_heatmap(scores: "EdgeScores", path: Path, metric: str = "rank", title: Optional[str] = None) -> Path:
    """Draw and save the PNG; returns its path. Needs matplotlib (the ``plot`` extra)."""
    check_metric(metric)
    Figure, FigureCanvasAgg = load_matplotlib()
    n = scores.n
    side = min(24.0, max(5.0, 0.32 * n + 3.0))
    fig = Figure(figsize=(side + 1.2, side))
    FigureCanvasAgg(fig)  # Agg canvas: no display and no global pyplot state
    ax = fig.add_subplot(1, 1, 1)
    heatmap_axes(fig, ax, scores, metric, cell_values=n <= 16)
    ax.set_title(title or _default_title(scores, metric))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    write_bytes_atomic(path, buffer.getvalue())
    return path


def heatmap_axes(fig, ax, scores: "EdgeScores", metric: str = "rank", cell_values: bool = False,
                 legend: bool = True):
    """Draw the heat map of ``metric`` into ``ax`` (with its colour bar on ``fig``); returns the image.
    Shared with ``adaptgraph plot``, which draws a placement over it."""
    values = np.ma.masked_invalid(scores.matrix(metric))
    image = ax.imshow(values, cmap=_cmap(), interpolation="nearest")
    _ticks(ax, scores.points)
    _outline_kinds(ax, scores, legend)
    if cell_values:
        _cell_values(ax, values, metric)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(LABELS[metric])
    ax.set_xlabel("destination point (adapter writes here)")
    ax.set_ylabel("source point (adapter reads here)")
    return image


def load_matplotlib():
    """matplotlib's ``Figure`` and Agg canvas (no display, no pyplot state), or how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ScoreError("plotting needs matplotlib, which is not installed",
                         hint="pip install 'adaptgraph[plot]'") from None
    return Figure, FigureCanvasAgg


def _cmap():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="#bbbbbb")


def _ticks(ax, names) -> None:
    small = 8 if len(names) <= 30 else 6
    ax.set_xticks(range(len(names)), labels=names, rotation=90, fontsize=small)
    ax.set_yticks(range(len(names)), labels=names, fontsize=small)


def _outline_kinds(ax, scores, legend: bool = True) -> None:
    from matplotlib.patches import Patch, Rectangle

    styles = {"sequential": dict(edgecolor="white", linestyle="-", linewidth=1.6),
              "parallel": dict(edgecolor="white", linestyle="--", linewidth=1.2)}
    seen = set()
    for i in range(scores.n):
        for j in range(scores.n):
            kind = scores.kind(i, j)
            if kind in styles:
                label = None if kind in seen else f"{kind} edges"
                seen.add(kind)
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, label=label, **styles[kind]))
    if not legend:
        return
    handles, _ = ax.get_legend_handles_labels()
    for text in ("above the diagonal: long-range (forward) edges", "below the diagonal: recurrent edges (2nd pass)"):
        handles.append(Patch(fill=False, edgecolor="none", label=text))
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=2,
                       fontsize=8, frameon=False)
    for handle in legend.legend_handles[:len(seen)]:
        handle.set_edgecolor("black")


def _cell_values(ax, values, metric: str) -> None:
    finite = values.compressed()
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(values.filled(np.nan)):
        if np.isfinite(v):
            text = f"{v:.0f}" if metric == "rank" or 10 <= abs(v) < 1e5 else f"{v:.2g}"  # not "1.4e+02"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black" if v > mid else "white")


def _default_title(scores, metric: str) -> str:
    parts = [LABELS[metric] + " of edge gradients"]
    if scores.backbone:
        parts.append(scores.backbone)
    if scores.task:
        parts.append(scores.task)
    tokens = max(scores.tokens) if scores.tokens else 0
    return " | ".join(parts) + f"\n{tokens} tokens, {scores.batches} batch(es), head: {scores.head}"
