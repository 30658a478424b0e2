"""Choosing adapter edges from a score matrix: GGA and the paper's baselines.

Strategies (all skip pairs without a score and kinds not allowed, and take an edge
only if it fits the remaining parameter budget):

* ``gga``: Gradient Guided Adapters. Repeatedly take the best-scoring edge e; then
  multiply the score of every remaining edge e' by ``1 - gamma ** d(e, e')``, with
  ``d = |i - i'| + |j - j'|`` (at least 1), so that edges near a chosen one are
  discounted. ``gamma = 0`` is top-k.
* ``topk``: the k best scores.
* ``first`` / ``last``: the k earliest / latest edges by position, where edges are
  ordered by destination point, then by source point (so ``first`` adapts the
  beginning of the network).
* ``random``: k edges drawn uniformly without replacement (seeded).

Ties are broken by that same position order (earlier first).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

from adaptgraph.errors import ScoreError, did_you_mean
from adaptgraph.spec.edge_facts import INFERRED_KIND, KINDS, adapter_parameters, edge_kind, stream_name
from adaptgraph.spec.models import Edge, Options, Spec

from .config import SELECT_DEFAULTS, SelectConfig
from .edge_scores import EdgeScores, cost_options

STRATEGIES = ("gga", "topk", "first", "last", "random")
RANK_MODES = ("equal", "allocated")
Distance = Callable[[int, int, int, int], float]


def manhattan(i: int, j: int, i2: int, j2: int) -> float:
    """Default GGA distance between edges (i, j) and (i2, j2): |i - i2| + |j - j2|."""
    return abs(i - i2) + abs(j - j2)


@dataclass(frozen=True)
class Choice:
    """One chosen edge, with why and at what cost."""

    src: str
    dst: str
    src_index: int
    dst_index: int
    kind: str
    score: float
    """The edge's undiscounted score."""
    params: Optional[int]
    """Trainable parameters of the adapter (None when widths are unknown)."""


@dataclass(frozen=True)
class Candidates:
    """Everything the strategies need, in matrix form ([src, dst])."""

    points: tuple[str, ...]
    scores: np.ndarray
    allowed: np.ndarray
    kinds: np.ndarray
    params: Optional[np.ndarray]

    @property
    def positions(self) -> list[tuple[int, int]]:
        """Allowed edges ordered by destination, then source."""
        n = len(self.points)
        return [(i, j) for j in range(n) for i in range(n) if self.allowed[i, j]]


def candidates(scores: Union[EdgeScores, np.ndarray, Sequence], *, metric: str = SELECT_DEFAULTS.metric,
               points: Optional[Sequence[str]] = None, widths: Optional[Sequence[int]] = None,
               kinds: Optional[Iterable[str]] = None, rank: int = SELECT_DEFAULTS.rank,
               bias: bool = SELECT_DEFAULTS.bias) -> Candidates:
    """The score matrix with kinds, parameter counts and the allowed mask.

    ``scores`` is an ``EdgeScores`` or an n x n matrix (then ``points`` names the rows,
    in topological order, and ``widths`` is needed for a parameter budget).
    """
    if isinstance(scores, EdgeScores):
        matrix, names, orders = scores.matrix(metric), scores.points, scores.orders
        widths = scores.widths
    else:
        matrix = np.asarray(scores, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ScoreError(f"a score matrix must be square (src x dst), got shape {matrix.shape}")
        names = tuple(points) if points is not None else tuple(stream_name(k) for k in range(matrix.shape[0]))
        orders = tuple(range(len(names)))
        if len(names) != matrix.shape[0]:
            raise ScoreError(f"got {len(names)} point names for a {matrix.shape[0]} x {matrix.shape[0]} matrix")
    n = len(names)
    kind = np.array([[edge_kind(names[i], names[j], orders[i], orders[j]) for j in range(n)] for i in range(n)])
    allowed = np.isfinite(matrix) & np.isin(kind, _allowed_kinds(kinds))
    params = None if widths is None else _param_matrix(widths, rank, bias)
    return Candidates(tuple(names), matrix, allowed, kind, params)


def choose(cands: Candidates, k: Optional[int] = None, *, strategy: str = SELECT_DEFAULTS.strategy,
           gamma: float = SELECT_DEFAULTS.gamma, distance: Optional[Distance] = None,
           max_params: Optional[int] = None, seed: int = SELECT_DEFAULTS.seed) -> tuple[Choice, ...]:
    """Pick edges by ``strategy`` until ``k`` are chosen or nothing else fits ``max_params``."""
    _check_budget(cands, k, max_params)
    if strategy not in STRATEGIES:
        raise ScoreError(f"unknown selection strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}",
                         hint=did_you_mean(strategy, STRATEGIES))
    if strategy == "gga":
        if not 0.0 <= gamma < 1.0:
            raise ScoreError(f"gamma must be in [0, 1), got {gamma}", hint=f"the paper uses gamma = {SELECT_DEFAULTS.gamma}")
        picked = _greedy(cands, k, max_params, gamma, distance or manhattan)
    else:
        picked = _in_order(cands, _order(cands, strategy, seed), k, max_params)
    return tuple(_choice(cands, i, j) for i, j in picked)


def select(scores: Union[EdgeScores, np.ndarray, Sequence], config: Optional[SelectConfig] = None, *,
           points: Optional[Sequence[str]] = None, widths: Optional[Sequence[int]] = None,
           distance: Optional[Distance] = None) -> Spec:
    """Choose edges (see ``choose``) by ``config`` (a ``SelectConfig``) and return them as a ``Spec``.

    Budget: ``k`` adapters, ``max_params`` trainable parameters (``adapter_parameters``
    of each adapter: rank * (d_i + d_j) plus biases), or both. ``kinds`` restricts the candidates, e.g.
    ``("sequential", "parallel", "longrange")`` to avoid a second forward pass. ``init`` is written
    into the spec's defaults (``grad``: gradient-aligned). ``ranks="allocated"`` redistributes the
    chosen edges' parameters (``max_params``, else what they cost at ``rank``) by ``allocate``'s rule,
    from the spectra kept in ``scores``. ``points`` and ``widths`` describe a bare score matrix (see
    ``candidates``); ``distance`` replaces GGA's ``manhattan``.
    """
    c = config or SelectConfig()
    if c.ranks not in RANK_MODES:
        raise ScoreError(f"unknown ranks mode {c.ranks!r}; choose one of {', '.join(RANK_MODES)}",
                         hint=did_you_mean(c.ranks, RANK_MODES))
    cands = candidates(scores, metric=c.metric, points=points, widths=widths, kinds=c.kinds, rank=c.rank, bias=c.bias)
    chosen = choose(cands, c.k, strategy=c.strategy, gamma=c.gamma, distance=distance, max_params=c.max_params,
                    seed=c.seed)
    per_edge = None
    if c.ranks == "allocated":
        if not isinstance(scores, EdgeScores):
            raise ScoreError("allocated ranks need the spectra of an EdgeScores, not a bare score matrix")
        from .allocate import allocate_chosen

        per_edge = allocate_chosen(scores, [(e.src_index, e.dst_index) for e in chosen], c.max_params, rank=c.rank,
                                   bias=c.bias).ranks
    return to_spec(chosen, rank=c.rank, bias=c.bias, name=c.name,
                   backbone=scores.backbone if isinstance(scores, EdgeScores) else None,
                   stream=scores.stream if isinstance(scores, EdgeScores) else None, init=c.init, ranks=per_edge)


def to_spec(chosen: Sequence[Choice], *, rank: int = SELECT_DEFAULTS.rank, bias: bool = SELECT_DEFAULTS.bias, name: Optional[str] = None,
            backbone: Optional[str] = None, stream: Optional[str] = None, init: Optional[str] = None,
            ranks: Optional[Sequence[int]] = None) -> Spec:
    """A spec with one ``edge SRC -> DST`` per choice (the compiler infers each kind); ``ranks`` gives
    each edge its own rank (beside the default ``rank``), ``init`` the defaults' initialisation."""
    try:
        defaults = Options(rank=rank, init=init, bias=None if bias else False)
        own = [Options(rank=r) if r != rank else Options() for r in ranks] if ranks else [Options()] * len(chosen)
        edges = tuple(Edge(kind=INFERRED_KIND, src=c.src, dst=c.dst, options=o) for c, o in zip(chosen, own))
        return Spec(name=name, backbone=backbone, defaults=defaults, edges=edges, stream=stream)
    except ValueError as e:  # pydantic's ValidationError: a bad name or rank given by the caller
        raise ScoreError(f"the selection does not make a valid spec: {e}",
                         hint="names are identifiers ([A-Za-z_][A-Za-z0-9_]*) and rank is an integer >= 1") from None


# -- strategies -----------------------------------------------------------------
def _greedy(cands, k, max_params, gamma, distance) -> list[tuple[int, int]]:
    live = cands.scores.copy()
    remaining = cands.allowed.copy()
    spent, picked = 0, []
    order = cands.positions  # tie-break: earliest position wins
    while k is None or len(picked) < k:
        fits = [(i, j) for i, j in order if remaining[i, j] and _fits(cands, i, j, spent, max_params)]
        if not fits:
            break
        i, j = max(fits, key=lambda e: live[e])  # max() keeps the first of equal scores
        picked.append((i, j))
        remaining[i, j] = False
        spent += _cost(cands, i, j)
        live *= 1.0 - gamma ** np.maximum(1.0, _distances(distance, len(cands.points), i, j))
    return picked


def _distances(distance: Distance, n: int, i: int, j: int) -> np.ndarray:
    if distance is manhattan:
        rows, cols = np.indices((n, n))
        return np.abs(rows - i) + np.abs(cols - j)
    return np.array([[distance(i, j, a, b) for b in range(n)] for a in range(n)], dtype=np.float64)


def _order(cands: Candidates, strategy: str, seed: int) -> list[tuple[int, int]]:
    pos = cands.positions
    if strategy == "topk":
        return sorted(pos, key=lambda e: -cands.scores[e])  # stable: ties keep position order
    if strategy == "first":
        return pos
    if strategy == "last":
        return pos[::-1]
    perm = np.random.default_rng(seed).permutation(len(pos))
    return [pos[p] for p in perm]


def _in_order(cands, order, k, max_params) -> list[tuple[int, int]]:
    spent, picked = 0, []
    for i, j in order:
        if k is not None and len(picked) >= k:
            break
        if _fits(cands, i, j, spent, max_params):
            picked.append((i, j))
            spent += _cost(cands, i, j)
    return picked


# -- helpers --------------------------------------------------------------------
def _allowed_kinds(kinds: Optional[Iterable[str]]) -> list[str]:
    if kinds is None:
        return list(KINDS)
    kinds = list(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise ScoreError(f"unknown edge kind {kind!r}; choose from {', '.join(KINDS)}",
                             hint=did_you_mean(kind, KINDS))
    return kinds


def _param_matrix(widths: Sequence[int], rank: int, bias: bool) -> np.ndarray:
    w = np.asarray(widths, dtype=np.int64)
    return adapter_parameters(w[:, None], w[None, :], cost_options(rank, bias))


def _check_budget(cands: Candidates, k: Optional[int], max_params: Optional[int]) -> None:
    if k is None and max_params is None:
        raise ScoreError("no budget: give a number of adapters (k) or of trainable parameters (max_params)")
    if k is not None and k < 1:
        raise ScoreError(f"k must be at least 1, got {k}")
    available = int(cands.allowed.sum())
    if k is not None and k > available:
        raise ScoreError(f"asked for {k} edges but only {available} candidate edges are allowed",
                         hint="lower k, or allow more edge kinds")
    if max_params is not None and cands.params is None:
        raise ScoreError("a parameter budget needs the point widths", hint="pass widths=[d_0, d_1, ...]")


def _fits(cands, i, j, spent, max_params) -> bool:
    return max_params is None or spent + _cost(cands, i, j) <= max_params


def _cost(cands, i, j) -> int:
    return 0 if cands.params is None else int(cands.params[i, j])


def _choice(cands: Candidates, i: int, j: int) -> Choice:
    params = None if cands.params is None else int(cands.params[i, j])
    return Choice(cands.points[i], cands.points[j], i, j, str(cands.kinds[i, j]),
                  float(cands.scores[i, j]), params)
