"""The search space: candidate edges between stream points, their costs and scores, and the budget.

A placement is a *genome*: a tuple of :class:`Gene` (one adapter on edge ``@src ->
@dst`` with its effective options), kept sorted by destination then source, so
that one set of adapters has one genome and one spec hash. ``SearchSpace``
turns genomes into ``Spec`` objects and back, counts their parameters and says
whether they fit the :class:`Budget`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import SearchError, did_you_mean
from ..score.edge_scores import EdgeScores
from ..score.select import RANK_MODES
from ..spec import BUILTIN_OPTIONS, Edge, Options, Spec
from ..spec.models import Init
from ..spec.edge_facts import INFERRED_KIND, KINDS, adapter_parameters, edge_kind, stream_index, stream_name


INITS = Init.__args__


class Budget(BaseModel):
    """How big a proposed spec may be.

    ``adapters`` is the list k of adapter counts: ``gga`` proposes one spec per k,
    ``random`` draws specs of each k, ``evolve`` never exceeds the largest.
    ``params`` caps the trainable adapter parameters of a spec; ``kinds``
    restricts the edge kinds (default: all four, the extended space); new
    adapters get rank ``rank`` and initialisation ``init`` (None: the built-in
    ``zero``; ``grad``: from each edge's gradient). ``ranks="allocated"`` gives
    the GGA picks ranks shared out from their gradient spectra (``score.allocate``)
    within what they cost at ``rank`` (or ``params``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapters: tuple[int, ...] = (4,)
    params: Optional[int] = None
    kinds: Optional[tuple[str, ...]] = None
    rank: int = BUILTIN_OPTIONS.rank
    init: Optional[str] = None
    ranks: str = "equal"

    # SearchError (not a ValueError) leaves pydantic as it is: the message and hint reach the user unchanged
    @model_validator(mode="after")
    def _sizes(self) -> "Budget":
        if not self.adapters or any(not isinstance(k, int) or k < 1 for k in self.adapters):
            raise SearchError(f"adapter counts k must be integers >= 1, got {list(self.adapters)}")
        if self.params is not None and self.params < 1:
            raise SearchError(f"the parameter budget must be at least 1, got {self.params}")
        if self.rank < 1:
            raise SearchError(f"the adapter rank must be at least 1, got {self.rank}")
        if self.ranks not in RANK_MODES:
            raise SearchError(f"unknown ranks mode {self.ranks!r}; choose one of {', '.join(RANK_MODES)}",
                              hint=did_you_mean(self.ranks, RANK_MODES))
        if self.init is not None and self.init not in INITS:
            raise SearchError(f"unknown initialisation {self.init!r}; choose one of {', '.join(INITS)}",
                              hint=did_you_mean(self.init, INITS))
        for kind in self.kinds or ():
            if kind not in KINDS:
                raise SearchError(f"unknown edge kind {kind!r}; choose from {', '.join(KINDS)}",
                                  hint=did_you_mean(kind, KINDS))
        return self

    @property
    def max_adapters(self) -> int:
        return max(self.adapters)

    @property
    def allowed_kinds(self) -> tuple[str, ...]:
        return tuple(self.kinds) if self.kinds else KINDS

    def to_dict(self) -> dict:
        extra = {**({"init": self.init} if self.init else {}), **({"ranks": self.ranks} if self.ranks != "equal" else {})}
        return {"adapters": list(self.adapters), "params": self.params,
                "kinds": list(self.allowed_kinds), "rank": self.rank, **extra}  # old journals: no new keys


@dataclass(frozen=True)
class Gene:
    """One adapter: stream point ``dst`` gets an adapter reading point ``src``, with full options."""

    dst: int
    src: int
    options: Options = BUILTIN_OPTIONS

    @property
    def edge(self) -> tuple[int, int]:
        return self.src, self.dst

    def describe(self) -> str:
        return f"{stream_name(self.src)}->{stream_name(self.dst)}"


Genome = tuple[Gene, ...]


def genome_of(genes) -> Genome:
    """Genes in canonical order (by destination, then source)."""
    return tuple(sorted(genes, key=lambda g: (g.dst, g.src)))


@dataclass(frozen=True)
class SearchSpace:
    """Stream points with their widths and topological orders, edge kinds, optional scores, and a budget."""

    points: tuple[str, ...]
    widths: tuple[int, ...]
    orders: tuple[int, ...]
    budget: Budget
    backbone: str
    stream: Optional[str] = None
    scores: Optional[np.ndarray] = None  # [src, dst], NaN where no edge fits; None: not scored
    spectra: Optional[tuple] = None  # [src][dst] largest singular values (EdgeScores.spectra), for allocated ranks

    @classmethod
    def from_scores(cls, scores: EdgeScores, budget: Budget, metric: str = "rank") -> "SearchSpace":
        """The space of the scored points, with ``metric`` as the edge scores."""
        _check_stream_names(scores.points)
        return cls(scores.points, scores.widths, scores.orders, budget, scores.backbone or "", scores.stream,
                   scores.matrix(metric), scores.spectra)

    @classmethod
    def from_points(cls, points: Sequence, budget: Budget, backbone: str, stream: Optional[str] = None
                    ) -> "SearchSpace":
        """The space of stream points (``PointInfo`` objects of ``adaptgraph.graph.stream_points``), unscored."""
        names = tuple(p.name for p in points)
        _check_stream_names(names)
        widths = tuple(int(p.shape[p.feature_dim]) for p in points)
        return cls(names, widths, tuple(p.order for p in points), budget, backbone, stream)

    @property
    def n(self) -> int:
        return len(self.points)

    @property
    def default_options(self) -> Options:
        return self.spec_defaults.over(BUILTIN_OPTIONS)

    @property
    def spec_defaults(self) -> Options:
        """What the budget sets for every proposed adapter: its rank and, when given, its initialisation."""
        return Options(rank=self.budget.rank, init=self.budget.init)

    # -- edges ------------------------------------------------------------------
    def kind(self, i: int, j: int) -> str:
        return edge_kind(self.points[i], self.points[j], self.orders[i], self.orders[j])

    def allowed(self, i: int, j: int) -> bool:
        """Whether edge i -> j is a candidate: an allowed kind, and scorable when the space is scored."""
        if self.scores is not None and not np.isfinite(self.scores[i, j]):
            return False
        return self.kind(i, j) in self.budget.allowed_kinds

    def edges(self) -> list[tuple[int, int]]:
        """Every allowed edge, ordered by destination, then source."""
        return [(i, j) for j in range(self.n) for i in range(self.n) if self.allowed(i, j)]

    def score(self, i: int, j: int) -> float:
        """The edge's score for weighted draws (0 when unscored, negative or missing)."""
        if self.scores is None or not np.isfinite(self.scores[i, j]):
            return 0.0
        return max(0.0, float(self.scores[i, j]))

    def gene(self, i: int, j: int, options: Optional[Options] = None) -> Gene:
        return Gene(dst=j, src=i, options=options or self.default_options)

    # -- cost and budget ----------------------------------------------------------
    def gene_params(self, gene: Gene) -> int:
        """The adapter's parameters, counted as GGA counts them against the same budget."""
        return adapter_parameters(self.widths[gene.src], self.widths[gene.dst], gene.options)

    def params(self, genome: Genome) -> int:
        """Trainable parameters of the adapters of ``genome``."""
        return sum(self.gene_params(g) for g in genome)

    def fits(self, genome: Genome, max_adapters: Optional[int] = None) -> bool:
        """Within the budget: at most ``max_adapters`` (default the largest k), allowed edges, the params cap."""
        limit = self.budget.max_adapters if max_adapters is None else max_adapters
        if not genome or len(genome) > limit or len({g.edge for g in genome}) != len(genome):
            return False
        if not all(0 <= g.src < self.n and 0 <= g.dst < self.n and self.allowed(g.src, g.dst) for g in genome):
            return False
        return self.budget.params is None or self.params(genome) <= self.budget.params

    # -- specs --------------------------------------------------------------------
    def to_spec(self, genome: Genome, name: Optional[str] = None) -> Spec:
        """A spec with one ``edge @i -> @j`` per gene; options beyond the defaults written on the edge."""
        base = self.default_options
        edges = tuple(Edge(kind=INFERRED_KIND, src=stream_name(g.src), dst=stream_name(g.dst),
                           options=_difference(g.options, base))
                      for g in genome_of(genome))
        return Spec(name=name, backbone=self.backbone or None, defaults=self.spec_defaults,
                    edges=edges, stream=self.stream)

    def from_spec(self, spec: Spec) -> Optional[Genome]:
        """The genome of a spec whose edges all join stream points (``@K``), or None."""
        if spec.train or (spec.stream or None) != (self.stream or None):
            return None
        genes = {}
        for edge in spec.expanded():
            ends = [stream_index(p) for p in (edge.src, edge.dst)]
            if None in ends:
                return None
            i, j = (k % self.n if -self.n <= k < self.n else -1 for k in ends)
            if i < 0 or j < 0 or (i, j) in genes:
                return None
            genes[(i, j)] = Gene(dst=j, src=i, options=spec.options_for(edge))
        return genome_of(genes.values()) or None


def allocated_genome(space: SearchSpace, genome: Genome) -> Genome:
    """``genome`` with ranks shared out from the gradient spectra (``score.allocate``'s rule) within what it
    costs at the budget's rank, or within the parameter cap when one is set."""
    from ..score.allocate import allocate_ranks

    if space.spectra is None:
        raise SearchError("allocated ranks need the gradient spectra of the scores, and these scores keep none",
                          hint="score again (scores saved by this version keep them)")

    def with_rank(g: Gene, r: int) -> Gene:
        return Gene(g.dst, g.src, g.options.model_copy(update={"rank": r}))

    params = [lambda r, g=g: space.gene_params(with_rank(g, r)) for g in genome]
    budget = space.budget.params or sum(p(space.budget.rank) for p in params)
    ranks = allocate_ranks([space.spectra[g.src][g.dst] or () for g in genome], params, budget).ranks
    return genome_of(with_rank(g, r) for g, r in zip(genome, ranks))


def baseline_genome(space: SearchSpace) -> Genome:
    """The common baseline: one parallel adapter per sub-layer, ``@k -> @k+1`` for every k."""
    return genome_of(space.gene(k, k + 1) for k in range(space.n - 1))


def _difference(options: Options, base: Options) -> Options:
    return Options(**{k: v for k, v in options.items() if getattr(base, k) != v})


def _check_stream_names(points: Sequence[str]) -> None:
    if [p for p in points] != [stream_name(k) for k in range(len(points))]:
        raise SearchError(f"the search space must be the stream points @0..@{len(points) - 1}, got {list(points)[:4]}",
                          hint="score the backbone's stream points (the default of score_edges)")
