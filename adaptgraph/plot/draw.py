"""A ``Layout`` drawn with matplotlib (Agg, no display): the arcs over the stream line, and
optionally below them the score heat map with the placement's edges marked on it."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..errors import PlotError
from ..fileio import write_bytes_atomic
from .layout import KIND_STYLES, Arc, Layout, position, rank_width

if TYPE_CHECKING:
    from ..score.edge_scores import EdgeScores

FORMATS = (".png", ".svg")
MARKERS = {"parallel": "o", "sequential": "s", "longrange": "^", "recurrent": "v"}
LABEL_DROP = 0.16  # long point labels (module paths) hang this far below the line
NODE_RADIUS = 10.5  # points: a stream point is a circle with its @k inside
LOOP_RADIUS = 0.26


def check_output(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise PlotError(f"cannot write a picture to {str(path)!r}: the file must end in .png or .svg",
                        hint="for example --out placement.png")


def draw_layout(layout: Layout, path: Path, scores: Optional["EdgeScores"] = None, metric: str = "rank") -> Path:
    """Draw ``layout`` (and the heat map of ``scores``) and write it atomically to ``path`` (.png or .svg)."""
    check_output(path)
    Figure, FigureCanvasAgg = load_matplotlib()
    n = max(1, len(layout.points) - 1)
    width = min(22.0, max(8.0, 0.62 * n + 3.0))
    unit = (width - 1.0) / (n + 1.0)  # inches per step along the line: arcs keep their shape
    # @k fits in a circle while the points are far enough apart; module paths, or a crowded line, hang below it
    inside = all(len(p) <= 4 for p in layout.points) and unit * 72 >= 2.6 * NODE_RADIUS
    top, bottom = _extent(layout.arcs)
    if not inside:
        bottom -= LABEL_DROP + 0.06 * max(len(p) for p in layout.points) / unit  # 7-point text: ~0.06 in a letter
    arcs_height = (top - bottom) * unit + 1.5  # + the title and the legend
    heat_height = min(width, 10.0) * 0.85 if scores is not None else 0.0
    fig = Figure(figsize=(width, arcs_height + heat_height))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 if scores is not None else 1, 1, height_ratios=[arcs_height, heat_height]
                            if scores is not None else None)
    ax = fig.add_subplot(grid[0])
    _draw_arcs(ax, layout, top, bottom, unit, inside)
    if scores is not None:
        _draw_scores(fig, fig.add_subplot(grid[1]), layout, scores, metric)
    fig.suptitle(layout.title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lower()[1:], dpi=130)
    # makes the folder; a path that cannot be written, or the plot's own input: FileAccessError; a file the
    # user named, so a link to one is followed, as select -o does
    write_bytes_atomic(path, buffer.getvalue(), follow_link=True)
    return path


def load_matplotlib():
    """``score.heatmap``'s loader (one place says how to install matplotlib), failing as a ``PlotError``."""
    from ..errors import ScoreError
    from ..score.heatmap import load_matplotlib as load

    try:
        return load()
    except ScoreError as e:
        raise PlotError(problems=e.problems) from None


def _extent(arcs) -> tuple[float, float]:
    top = max([a.height for a in arcs if a.side == "above"] + [3 * LOOP_RADIUS * any(a.side == "loop" for a in arcs)]
              + [0.5])
    bottom = -max([a.height for a in arcs if a.side == "below"] + [0.0]) - 0.45
    return top + 0.3, bottom


def _draw_arcs(ax, layout: Layout, top: float, bottom: float, unit: float, inside: bool) -> None:
    n = len(layout.points) - 1
    ax.plot([0, max(n, 0)], [0, 0], color="0.25", lw=1.6, zorder=2, solid_capstyle="round")
    ax.scatter(range(n + 1), [0] * (n + 1), s=(2 * NODE_RADIUS) ** 2 if inside else 36, facecolor="white",
               edgecolor="0.25", linewidth=1.3, zorder=6)
    below = max([a.height for a in layout.arcs if a.side == "below"] + [0.0])  # hanging labels clear these
    for x, name in enumerate(layout.points):
        if inside:
            ax.text(x, 0, name, ha="center", va="center", fontsize=7, zorder=7, color="0.1")
        else:
            ax.plot([x, x], [0, -below - LABEL_DROP / 2], color="0.75", lw=0.6, linestyle="dotted", zorder=1)
            ax.text(x, -below - LABEL_DROP, name, ha="center", va="top", fontsize=7, zorder=7, rotation=90,
                    color="0.15")
    node = (NODE_RADIUS + 1 if inside else 4) / 72 / unit  # points -> data units along the line
    lift = 0.75 * NODE_RADIUS / 72 / unit if inside else 0.0  # a loop sits on its point's circle
    for arc in sorted(layout.arcs, key=lambda a: -a.width):  # thick ones first: thin ones stay visible on top
        _draw_arc(ax, arc, node, lift)
    ax.set_xlim(-0.6, n + 0.6)
    ax.set_ylim(bottom, top)
    ax.axis("off")  # the figure's size keeps one unit along the line as tall as it is wide
    kinds, ranks = _legend_handles(layout.arcs)
    row = 0.24 / ((top - bottom) * unit)  # one legend row (8-point text), in axes fractions
    style = dict(loc="upper center", fontsize=8, frameon=False, handlelength=3, columnspacing=1.6)
    # a row each, so that the long kind names never widen the ranks' columns; the lower row is the
    # axes' own legend, which tight_layout makes room for (and so for the row above it too)
    ax.add_artist(ax.legend(handles=kinds, bbox_to_anchor=(0.5, 0.0), ncol=max(1, len(kinds)), **style))
    ax.legend(handles=ranks, bbox_to_anchor=(0.5, -row), ncol=max(1, len(ranks)), **style)


def arc_curve(arc: Arc, steps: int = 200, lift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The points of the drawn curve, from where the edge reads to where it writes; a loop stands
    ``lift`` above the line (on top of the point's circle)."""
    t = np.linspace(0.0, 1.0, steps)
    if arc.side == "loop":  # open at the bottom, so that the head shows where it comes back to the point
        t, r = np.linspace(0.06, 0.9, steps), LOOP_RADIUS
        return arc.x0 + r * np.sin(2 * math.pi * t), lift + r * (1 - np.cos(2 * math.pi * t))
    sign = -1.0 if arc.side == "below" else 1.0
    return arc.x0 + (arc.x1 - arc.x0) * t, sign * arc.height * np.sin(math.pi * t)


def _draw_arc(ax, arc: Arc, node: float, lift: float) -> None:
    """The curve, and its arrow head where it meets the destination's circle (``node``: its radius in data units)."""
    x, y = arc_curve(arc, lift=lift)
    ax.plot(x, y, color=arc.colour, linestyle=arc.linestyle, lw=arc.width, alpha=0.9, zorder=4,
            solid_capstyle="round", dash_capstyle="round")
    outside = np.nonzero(np.hypot(x - x[-1], y - y[-1]) >= (0 if arc.side == "loop" else node))[0]
    tip = outside[-1] if outside.size else len(x) - 1
    ax.annotate("", xy=(x[tip], y[tip]), xytext=(x[max(0, tip - 4)], y[max(0, tip - 4)]), zorder=7,
                arrowprops=dict(arrowstyle="-|>", color=arc.colour, lw=0, shrinkA=0, shrinkB=0,
                                mutation_scale=9 + 2.2 * arc.width))


def _legend_handles(arcs) -> tuple[list, list]:
    """The kinds drawn (first row) and the ranks drawn, each by its line width (second row)."""
    from matplotlib.lines import Line2D

    names = {"parallel": "parallel", "sequential": "sequential (loop)", "longrange": "long-range",
             "recurrent": "recurrent (next pass, below)"}
    kinds = [Line2D([], [], color=colour, linestyle=style, lw=2.4, marker=MARKERS[kind], markerfacecolor="none",
                    markersize=7, label=names[kind])
             for kind, (colour, style) in KIND_STYLES.items() if any(a.kind == kind for a in arcs)]
    ranks = [Line2D([], [], color="0.35", lw=rank_width(r), label=f"rank {r}") for r in sorted({a.rank for a in arcs})]
    return kinds, ranks


def _draw_scores(fig, ax, layout: Layout, scores: "EdgeScores", metric: str) -> None:
    """The heat map, each of the placement's edges circled at its (source, destination) cell."""
    from ..score.heatmap import LABELS, heatmap_axes

    heatmap_axes(fig, ax, scores, metric, legend=False)
    for arc in layout.arcs:
        row, col = heat_cell(arc, layout, scores)
        ax.scatter([col], [row], marker=MARKERS.get(arc.kind, "o"), s=60 + 40 * arc.width, facecolors="none",
                   edgecolors="white", linewidths=3.2, zorder=5)
        ax.scatter([col], [row], marker=MARKERS.get(arc.kind, "o"), s=60 + 40 * arc.width, facecolors="none",
                   edgecolors=arc.colour, linewidths=1.8, zorder=6)
    ax.set_title(f"{LABELS[metric]} of every candidate edge; this placement's edges marked", fontsize=9)


def heat_cell(arc: Arc, layout: Layout, scores: "EdgeScores") -> tuple[float, float]:
    """(row, column) of ``arc`` on the heat map: its line positions when the scores are over the same
    points; else each end by name, or by topological order between the scored points."""
    if tuple(layout.points) == tuple(scores.points):
        return arc.x0, arc.x1
    index = {name: i for i, name in enumerate(scores.points)}
    ends = ((arc.src, arc.src_order), (arc.dst, arc.dst_order))
    row, col = (index[name] if name in index else position(order, list(scores.orders)) for name, order in ends)
    return row, col
