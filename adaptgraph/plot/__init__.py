"""Pictures of placements: ``plot_spec`` draws a spec's adapters as arcs over the backbone's stream.

The layout (``layout.py``) is pure geometry; the drawing (``draw.py``) needs matplotlib, the
``plot`` extra. Tracing the backbone needs torch; importing this package needs neither.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from ..errors import PlotError
from .layout import Arc, Layout, placement_layout, position

if TYPE_CHECKING:
    from ..score.edge_scores import EdgeScores
    from ..spec import Spec

__all__ = ["Arc", "Layout", "placement_layout", "plot_spec", "position", "spec_layout"]


def spec_layout(spec: Union["Spec", str, Path], backbone=None, *, frontend: Optional[str] = None,
                trust_code: bool = False) -> Layout:
    """The layout of ``spec`` on ``backbone`` (a reference or a loaded ``Backbone``; default: the spec's)."""
    return _layout(spec, backbone, frontend, trust_code)[0]


def plot_spec(spec: Union["Spec", str, Path], backbone=None, out: Union[str, Path] = "placement.png", *,
              scores: Union["EdgeScores", str, Path, None] = None, metric: str = "rank",
              frontend: Optional[str] = None, trust_code: bool = False) -> Path:
    """Draw ``spec``'s placement on ``backbone`` into ``out`` (.png or .svg) and return its path.

    Stream points ``@0 .. @N`` lie in order on a line; each adapter is an arc from where it
    reads to where it writes (kind: colour and line style; rank: line width; recurrent edges
    below the line, pointing back). With ``scores`` (an ``EdgeScores`` or the ``scores.json``
    that ``adaptgraph score`` writes) the score heat map is drawn below, the edges marked on it.
    """
    from .draw import check_output, draw_layout, load_matplotlib

    out = Path(out)
    check_output(out)  # before any tracing: a wrong name or a missing matplotlib fails at once
    load_matplotlib()
    scores = _scores(scores, metric)
    layout, ref = _layout(spec, backbone, frontend, trust_code)
    if scores is not None and scores.backbone and scores.backbone != ref:
        raise PlotError(f"the scores are of backbone {scores.backbone!r}, but the spec is drawn on {ref!r}",
                        hint="score the same backbone (`adaptgraph score REF ...`), or pass --backbone "
                             f"{scores.backbone}")
    return draw_layout(layout, out, scores, metric)


def _layout(spec, backbone, frontend, trust_code) -> tuple[Layout, str]:
    from ..backbones import get_backbone
    from ..graph import trace_backbone
    from ..errors import PlanError
    from ..graph import stream_points
    from ..compiler.plan import resolve
    from ..spec import Spec, load

    spec = spec if isinstance(spec, Spec) else load(spec)
    bb = get_backbone(backbone if backbone is not None else spec.backbone, trust_code=trust_code)
    traced = trace_backbone(bb, frontend)
    plan = resolve(spec, traced)
    try:
        points = stream_points(traced, spec.stream)
    except PlanError:  # a backbone without stream points: the edges' own points make the line
        points = []
    params, n = sum(e.parameters for e in plan.edges), len(plan.edges)
    title = f"{spec.name or 'placement'} on {bb.ref}: {n} adapter{'s' * (n != 1)}, {params:,} adapter parameters"
    return placement_layout(plan.edges, points, title), bb.ref


def _scores(scores, metric: str):
    from ..score.edge_scores import EdgeScores, check_metric

    check_metric(metric)
    if scores is None or isinstance(scores, EdgeScores):
        return scores
    path = Path(scores)
    # a `score --out` folder too
    return EdgeScores.load(path / "scores.json" if path.is_dir() else path, metrics=(metric,))
