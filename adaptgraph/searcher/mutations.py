"""Mutations of a genome: add an edge, drop one, move an end point, change a rank or an option.

Every mutation returns a genome within the space's budget, or None when it cannot
apply (nothing to drop, no free edge that fits, ...). New edges are drawn with
probability proportional to their score (gradient rank by default); where every
candidate scores zero the draw is uniform.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import SearchError
from ..registry import Registry
from ..spec.edge_facts import ACTIVATIONS
from .space import Gene, Genome, SearchSpace, genome_of

RANKS = (1, 2, 4, 8, 16, 32, 64)
ACTS = tuple(ACTIVATIONS)
SCALES = (1.0, "learn")

Mutated = Optional[tuple[Genome, str]]


def draw_edge(space: SearchSpace, edges: Sequence[tuple[int, int]], rng: np.random.Generator
              ) -> Optional[tuple[int, int]]:
    """One of ``edges``, drawn with probability proportional to its score (uniform if all are 0)."""
    if not edges:
        return None
    weights = np.array([space.score(i, j) for i, j in edges], dtype=np.float64)
    total = weights.sum()
    p = weights / total if total > 0 else None
    return edges[int(rng.choice(len(edges), p=p))]


def add_edge(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: int) -> Mutated:
    """A new adapter on a free edge that fits the budget, drawn by score."""
    if len(genome) >= max_adapters:
        return None
    taken = {g.edge for g in genome}
    fits = [e for e in space.edges()
            if e not in taken and space.fits(genome + (space.gene(*e),), max_adapters)]
    edge = draw_edge(space, fits, rng)
    if edge is None:
        return None
    return genome_of(genome + (space.gene(*edge),)), f"add @{edge[0]}->@{edge[1]}"


def drop_edge(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: int) -> Mutated:
    """Remove one adapter, chosen uniformly (a genome keeps at least one)."""
    if len(genome) < 2:
        return None
    k = int(rng.integers(len(genome)))
    return genome[:k] + genome[k + 1:], f"drop {genome[k].describe()}"


def move_end(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: int) -> Mutated:
    """Move the source or destination of one adapter to another point; the new edge is drawn by score."""
    k = int(rng.integers(len(genome)))
    gene, rest = genome[k], genome[:k] + genome[k + 1:]
    taken = {g.edge for g in genome}
    for end in rng.permutation(["src", "dst"]):
        if end == "src":
            edges = [(i, gene.dst) for i in range(space.n) if i != gene.src]
        else:
            edges = [(gene.src, j) for j in range(space.n) if j != gene.dst]
        fits = [e for e in edges if e not in taken and space.allowed(*e)
                and space.fits(rest + (space.gene(*e, gene.options),), max_adapters)]
        edge = draw_edge(space, fits, rng)
        if edge is not None:
            moved = space.gene(*edge, gene.options)
            return genome_of(rest + (moved,)), f"move {end} {gene.describe()} to {moved.describe()}"
    return None


def change_rank(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: int) -> Mutated:
    """Halve or double the rank of one adapter (a neighbouring value of ``RANKS``)."""
    k = int(rng.integers(len(genome)))
    gene = genome[k]
    options = [r for r in _neighbours(RANKS, gene.options.rank)
               if space.fits(_replace(genome, k, gene, rank=r), max_adapters)]
    if not options:
        return None
    rank = options[int(rng.integers(len(options)))]
    return _replace(genome, k, gene, rank=rank), f"rank {gene.describe()} {gene.options.rank}->{rank}"


def change_options(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: int) -> Mutated:
    """Change the activation or the scale (fixed 1 or learned) of one adapter."""
    k = int(rng.integers(len(genome)))
    gene = genome[k]
    choices = [(field, value) for field, values in (("act", ACTS), ("scale", SCALES))
               for value in values if getattr(gene.options, field) != value]
    choices = [c for c in choices if space.fits(_replace(genome, k, gene, **{c[0]: c[1]}), max_adapters)]
    if not choices:
        return None
    field, value = choices[int(rng.integers(len(choices)))]
    before = getattr(gene.options, field)
    return _replace(genome, k, gene, **{field: value}), f"options {gene.describe()} {field} {before}->{value}"


# name -> (genome, space, rng, max_adapters) -> Mutated; a new mutation is one registration
MUTATIONS: Registry[Callable[..., Mutated]] = Registry("mutation", SearchError)
MUTATIONS.register("add", add_edge)
MUTATIONS.register("drop", drop_edge)
MUTATIONS.register("move", move_end)
MUTATIONS.register("rank", change_rank)
MUTATIONS.register("options", change_options)


def mutate(genome: Genome, space: SearchSpace, rng: np.random.Generator, max_adapters: Optional[int] = None,
           kinds: Optional[Sequence[str]] = None) -> Mutated:
    """Apply one mutation of ``kinds`` (default: every registered one), chosen uniformly among those that
    can apply; None if none can."""
    limit = max_adapters or space.budget.max_adapters
    for name in rng.permutation(list(MUTATIONS.names() if kinds is None else kinds)):
        mutated = MUTATIONS.lookup(str(name))(genome, space, rng, limit)
        if mutated is not None:
            return mutated
    return None


def _replace(genome: Genome, k: int, gene: Gene, **changes) -> Genome:
    options = type(gene.options)(**{**gene.options.model_dump(), **changes})
    return genome[:k] + (Gene(dst=gene.dst, src=gene.src, options=options),) + genome[k + 1:]


def _neighbours(values: Sequence[int], current: int) -> list[int]:
    below = [v for v in values if v < current]
    above = [v for v in values if v > current]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])
