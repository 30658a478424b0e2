"""What the Optuna-driven strategies (``hyperband``, ``nsga2``) share: their common settings, the pool of
candidate specs they start from, and Optuna itself (an optional dependency)."""
from __future__ import annotations

from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..errors import SearchError
from .mutations import mutate
from .records import Candidate
from .settings import GAMMA
from .space import Genome, SearchSpace


class PooledSettings(BaseModel):
    """Settings of a strategy that starts from :func:`candidate_pool` (frozen; unknown fields refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gga: bool = True
    """Start from the GGA pick of each k and mutate candidates by score (needs the scoring pass)."""
    gamma: float = GAMMA
    """GGA discount."""

    @property
    def needs_scores(self) -> bool:
        return self.gga

    def settings(self) -> dict:
        return self.model_dump()


def candidate_pool(space: SearchSpace, rng: np.random.Generator, count: int, gga: bool = True,
                   gamma: float = GAMMA) -> list[Candidate]:
    """``count`` distinct genomes within the budget: the GGA pick of each k (with ``gga``), then in turn a
    uniform random placement of a k drawn from ``-k`` and a mutation (edges drawn by score) of a candidate so
    far. Hyperband's candidates and NSGA-II's first generation."""
    from .strategies import gga_genome, uniform_genome

    pool: list[Candidate] = []
    seen: set[str] = set()

    def add(genome: Optional[Genome], how: str) -> None:
        if genome and space.fits(genome) and len(pool) < count:
            key = space.to_spec(genome).content_hash()
            if key not in seen:
                seen.add(key)
                pool.append(Candidate(genome, how, name=f"candidate_{len(pool)}"))

    if gga:
        for k in space.budget.adapters:
            add(gga_genome(space, k, gamma), f"gga k={k}")
    edges, ks = space.edges(), space.budget.adapters
    for attempt in range(50 * count):
        if len(pool) >= count:
            break
        if pool and attempt % 2:
            parent = pool[int(rng.integers(len(pool)))]
            mutated = mutate(parent.genome, space, rng, space.budget.max_adapters)
            if mutated is not None:
                add(mutated[0], f"{mutated[1]} (of {parent.mutation})")
        else:
            k = int(ks[int(rng.integers(len(ks)))])
            add(uniform_genome(space, edges, k, rng), f"random k={k}")
    if not pool:
        raise SearchError("no candidate spec fits the budget", hint="raise --budget-params or lower the rank")
    return pool


def optuna_module(strategy: str):
    """``import optuna`` (quiet), or a :class:`SearchError` saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise SearchError(f"the {strategy} strategy needs Optuna, which is not installed",
                          hint="pip install 'adaptgraph[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna
