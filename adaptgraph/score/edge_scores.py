"""``EdgeScores``: the gradient scores of every candidate edge, serialisable and plottable.

Matrices are indexed ``[src][dst]`` over the points in topological order; ``None``
marks a pair that cannot be an edge (token dimensions that do not match).
"""
from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from adaptgraph.errors import ScoreError, did_you_mean
from adaptgraph.fileio import parse_json, read_bytes, validate_model, write_text_atomic
from adaptgraph.spec.edge_facts import adapter_parameters, edge_kind
from adaptgraph.spec.models import BUILTIN_OPTIONS, Options

from .config import METRICS
from .scores_file import ScoresDocument

Matrix = tuple[tuple[Optional[float], ...], ...]
FORMAT = "adaptgraph.edge_scores"
VERSION = 1
SCORES_HINT = "pass the scores.json written by `adaptgraph score`"


def cost_options(rank: int, bias: bool = True) -> Options:
    """The options of a rank-``rank`` adapter, the rest built-in, for counting its parameters
    (not validated: the caller's rank is checked where a spec is made)."""
    return BUILTIN_OPTIONS.model_copy(update={"rank": rank, "bias": bias})


@dataclass(frozen=True)
class EdgeScores:
    """Scores of all n^2 ordered pairs of n points, with what is needed to read them."""

    points: tuple[str, ...]
    """Point texts (``@3``, ``blocks.0.attn.out``), in topological order."""
    nodes: tuple[str, ...]
    """fx node name of each point in the traced backbone."""
    orders: tuple[int, ...]
    """Topological index of each point's node (decides forward vs recurrent)."""
    shapes: tuple[tuple[int, ...], ...]
    """Shape of each point's value on the first scored batch."""
    feature_dims: tuple[int, ...]
    """Feature dimension of each point (-1 tokens, 1 NCHW)."""
    widths: tuple[int, ...]
    """Feature width d_i of each point."""
    tokens: tuple[int, ...]
    """Token rows accumulated at each point."""
    rank: Optional[Matrix] = None
    """Numerical rank of G_ij = H_i^T Delta_j (singular values > rtol * sigma_max); None if not computed
    (``ScoreConfig.metrics``), as for the other three."""
    erank: Optional[Matrix] = None
    """Entropy effective rank of G_ij."""
    fro: Optional[Matrix] = None
    """Frobenius norm of G_ij."""
    nuclear: Optional[Matrix] = None
    """Nuclear norm of G_ij."""
    rtol: Optional[float] = None
    """Rank tolerance; ``None`` means float32 eps * max(d_i, d_j) per edge."""
    batches: int = 1
    """Number of batches accumulated."""
    head: str = "random"
    """How the task head was set up for scoring (``random`` or ``probe``)."""
    task: Optional[str] = None
    """Task reference the loss came from."""
    backbone: Optional[str] = None
    """Backbone reference that was scored."""
    stream: Optional[str] = None
    """Stream pattern of the points, when they are stream points."""
    timings: tuple[tuple[str, float], ...] = ()
    """Seconds spent per stage, e.g. ``(("probe", 1.2), ("spectra", 3.4))``."""
    spectra: Optional[tuple[tuple[Optional[tuple[float, ...]], ...], ...]] = None
    """``[src][dst]``: the largest singular values of G_ij, descending (``pairwise.SPECTRUM_KEEP`` at most),
    None where no edge; what rank allocation reads. None for scores saved before it was kept."""

    def __post_init__(self) -> None:
        n = len(self.points)
        for name in ("nodes", "orders", "shapes", "feature_dims", "widths", "tokens"):
            if len(getattr(self, name)) != n:
                raise ScoreError(f"EdgeScores.{name} has {len(getattr(self, name))} entries for {n} points")
        if not self.metrics:
            raise ScoreError(f"EdgeScores holds none of the metrics {', '.join(METRICS)}")
        for metric in (*self.metrics, *(("spectra",) if self.spectra is not None else ())):
            rows = getattr(self, metric)
            if len(rows) != n or any(len(r) != n for r in rows):
                raise ScoreError(f"EdgeScores.{metric} must be a {n} x {n} matrix")

    # -- reading --------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of points."""
        return len(self.points)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics these scores hold (``ScoreConfig.metrics`` when scored)."""
        return tuple(m for m in METRICS if getattr(self, m) is not None)

    def matrix(self, metric: str = "rank") -> np.ndarray:
        """The ``[src, dst]`` matrix of one metric as float64, NaN where no edge is possible."""
        check_metric(metric)
        if getattr(self, metric) is None:
            raise ScoreError(f"these scores hold no {metric!r} scores, only {', '.join(self.metrics)}",
                             hint=f"score again with {metric} among the metrics (`adaptgraph score --metrics "
                                  f"{' '.join(sorted({*self.metrics, metric}, key=METRICS.index))}`)")
        return np.array([[np.nan if v is None else v for v in row] for row in getattr(self, metric)],
                        dtype=np.float64).reshape(self.n, self.n)

    def kind(self, i: int, j: int) -> str:
        """Kind of the edge from point ``i`` to point ``j`` (see ``edge_kind``)."""
        return edge_kind(self.points[i], self.points[j], self.orders[i], self.orders[j])

    def params(self, i: int, j: int, rank: int, bias: bool = True) -> int:
        """Trainable parameters of a rank-``rank`` adapter on edge i -> j: down, up (and biases)."""
        return adapter_parameters(self.widths[i], self.widths[j], cost_options(rank, bias))

    # -- serialisation --------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain data (lists, numbers, strings, None) with a format tag and version."""
        return {"format": FORMAT, "version": VERSION, **_plain(asdict(self))}

    def to_json(self, indent: Optional[int] = None) -> str:
        """JSON text; ``from_json(to_json())`` gives an equal object."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict, source: str = "scores") -> "EdgeScores":
        """Inverse of ``to_dict``; ScoreError for another format, missing fields or a field of the wrong type
        or out of its bounds (``scores_file.ScoresDocument``), naming ``source`` and the field."""
        try:
            return cls._from_checked_dict(data, source)
        except ScoreError as e:  # every problem names the file, not only those the field checks find
            raise _naming(e, source) from None

    @classmethod
    def _from_checked_dict(cls, data, source: str) -> "EdgeScores":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ScoreError("not an EdgeScores document (missing 'format': 'adaptgraph.edge_scores')",
                             hint="pass the scores.json written by `adaptgraph score`")
        if data.get("version") != VERSION:
            raise ScoreError(f"EdgeScores version {data.get('version')!r} is not supported (expected {VERSION})")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - {"format", "version"})
        if unknown:
            raise ScoreError(f"unknown EdgeScores field {unknown[0]!r}", hint=did_you_mean(unknown[0], names))
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING)
        if missing:
            raise ScoreError(f"EdgeScores document is incomplete: it lacks {', '.join(map(repr, missing))}",
                             hint="pass the scores.json written by `adaptgraph score`")
        checked = validate_model(ScoresDocument, data, source, error=ScoreError, hint=SCORES_HINT)
        return cls(**{k: _frozen(v) for k, v in checked.model_dump().items() if k in names})

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "scores file") -> "EdgeScores":
        """Parse JSON written by ``to_json``."""
        return cls.from_dict(parse_json(text, source, error=ScoreError, hint=SCORES_HINT), source)

    def save(self, path: Union[str, Path]) -> Path:
        """Write JSON atomically (a temporary file in the same folder, then a rename)."""
        write_text_atomic(path, self.to_json(indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: Union[str, Path], metrics: Sequence[str] = ()) -> "EdgeScores":
        """Read a file written by ``save``; ScoreError naming the file when it lacks any of ``metrics``."""
        if not Path(path).exists():
            raise ScoreError(f"cannot read scores file {str(path)!r}: No such file or directory")
        for metric in metrics:
            check_metric(metric)  # a name that is no metric is the caller's mistake, not the file's
        scores = cls.from_json(read_bytes(path, "json", error=ScoreError, what="the scores file"), str(path))
        for metric in metrics:
            try:
                scores.matrix(metric)
            except ScoreError as e:  # the command that needs the metric names the file it read
                raise _naming(e, str(path)) from None
        return scores

    def heatmap(self, path: Union[str, Path], metric: str = "rank", title: Optional[str] = None) -> Path:
        """Save a PNG heat map of one metric: sources down, destinations across, kinds outlined."""
        from .heatmap import draw_heatmap  # matplotlib only when plotting

        return draw_heatmap(self, Path(path), metric, title)


def freeze_matrix(rows) -> Matrix:
    """A nested list/array of scores as an immutable ``Matrix`` (NaN becomes None)."""
    return tuple(tuple(None if v is None or not math.isfinite(float(v)) else float(v) for v in row) for row in rows)


def _naming(e: ScoreError, source: str) -> ScoreError:
    """``e`` with every problem's message starting with ``source:`` (once)."""
    return ScoreError(problems=[p if p.message.startswith(f"{source}: ") else
                                replace(p, message=f"{source}: {p.message}") for p in e.problems])


def check_metric(metric: str) -> None:
    """ScoreError naming the valid metrics if ``metric`` is not one of them."""
    if metric not in METRICS:
        raise ScoreError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}",
                         hint=did_you_mean(metric, METRICS))


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ScoreError(f"cannot save a non-finite score ({value}); use None for pairs without an edge")
    return value


def _frozen(value):
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
