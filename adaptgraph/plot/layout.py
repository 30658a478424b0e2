"""Where each adapter of a placement is drawn: the pure geometry behind ``adaptgraph plot``.

The backbone's stream points ``@0 .. @N`` sit at x = 0 .. N on a horizontal line. Every
other point (a module port such as ``encoder.layer.4.attention.in``, a ``%node``) sits at
the stream position of its graph node: between the stream points it comes between in
topological order, in proportion. Each edge is an arc from its source's x to its
destination's x: forward edges above the line, recurrent ones (which read a later point
and write an earlier one on the next pass) below it, pointing left; a sequential edge,
which reads and writes one point, is a loop at that point. No matplotlib and no torch
here, so that the layout is tested apart from the drawing.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

# kind -> (colour, line style); the legend of every picture reads from here
KIND_STYLES = {
    "parallel": ("#1f77b4", "solid"),
    "sequential": ("#2ca02c", "solid"),
    "longrange": ("#ff7f0e", "dashed"),
    "recurrent": ("#d62728", "dashdot"),
}
MIN_WIDTH, MAX_WIDTH = 1.0, 9.4  # rank 1 to rank 128: every usual rank has a width of its own


def rank_width(rank: int) -> float:
    """Line width for an adapter of rank ``rank``: 1.2 points wider per doubling, from 1 at rank 1 up to
    rank 128 (ranks above it are drawn as wide as 128)."""
    return min(MAX_WIDTH, MIN_WIDTH + 1.2 * math.log2(max(1, rank)))


@dataclass(frozen=True)
class Arc:
    """One adapter edge as drawn."""

    name: str
    kind: str  # parallel | sequential | longrange | recurrent
    src: str
    dst: str
    x0: float  # where it reads
    x1: float  # where it writes
    rank: int
    src_order: int = 0  # topological index of each end's node: where it sits on another axis (a heat map)
    dst_order: int = 0

    @property
    def side(self) -> str:
        """``above`` the line (forward), ``below`` it (recurrent), or a ``loop`` at one point."""
        if self.kind == "recurrent":
            return "below"
        return "loop" if math.isclose(self.x0, self.x1, abs_tol=1e-9) else "above"

    @property
    def direction(self) -> str:
        """Which way the arrow head points: ``right`` (forward), ``left`` (backward) or ``self``."""
        if math.isclose(self.x0, self.x1, abs_tol=1e-9):
            return "self"
        return "right" if self.x1 > self.x0 else "left"

    @property
    def colour(self) -> str:
        return KIND_STYLES.get(self.kind, ("#555555", "solid"))[0]

    @property
    def linestyle(self) -> str:
        return KIND_STYLES.get(self.kind, ("#555555", "solid"))[1]

    @property
    def width(self) -> float:
        return rank_width(self.rank)

    @property
    def height(self) -> float:
        """The arc's height above (or depth below) the line, growing with its span."""
        return 0.35 + 0.3 * abs(self.x1 - self.x0) ** 0.8


@dataclass(frozen=True)
class Layout:
    """The picture's content: the points on the line and the arcs over it."""

    points: tuple[str, ...]  # labels at x = 0, 1, ...
    arcs: tuple[Arc, ...]
    title: str = ""


def position(order: int, reference: Sequence[int]) -> float:
    """x of a graph node at topological index ``order``, between the reference points around it
    (clamped to the first and last point)."""
    if not reference:
        return 0.0
    i = bisect.bisect_right(reference, order) - 1
    if i < 0:
        return 0.0
    if i >= len(reference) - 1:
        return float(len(reference) - 1)
    low, high = reference[i], reference[i + 1]
    return i + (order - low) / (high - low) if high > low else float(i)


def placement_layout(edges: Iterable, points: Sequence, title: str = "") -> Layout:
    """The layout of planned ``edges`` (``plan.edges``: name, kind, src and dst with ``name`` and ``order``,
    ``options.rank``) over the stream ``points`` (each with ``name`` and ``order``, in order). Without
    stream points, the edges' own end points, in topological order, make the line."""
    edges = list(edges)
    if not points:
        ends = {p.order: p for e in edges for p in (e.src, e.dst)}
        points = [ends[o] for o in sorted(ends)]
    reference = [p.order for p in points]
    arcs = tuple(Arc(e.name, e.kind, e.src.name, e.dst.name, position(e.src.order, reference),
                     position(e.dst.order, reference), int(e.options.rank), e.src.order, e.dst.order)
                 for e in edges)
    return Layout(tuple(p.name for p in points), arcs, title)
