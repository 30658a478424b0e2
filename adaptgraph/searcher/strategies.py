"""Search strategies: each proposes candidates round by round from the trials so far.

A strategy is a frozen settings object with ``propose(round, history, space, rng)``
returning the candidates of one round (``None`` when it has nothing more to
propose). It keeps no state of its own: what it proposes is a function of its
settings, the history of finished trials (in trial order) and the round's
random generator. That is what makes a search resumable from its journal and
the same on every executor.

* ``single``: one adapter on every allowed edge (the paper's heat-map sweep), or a
  seeded sample of them.
* ``random``: for each k, ``draws`` placements of k edges drawn uniformly from the
  allowed edges (the paper's random-placement experiment).
* ``gga``: one greedy gradient-guided selection for each k (needs scores).
* ``evolve``: round 0 proposes the GGA picks; later rounds mutate the best trials
  (tournament selection by ``records.rank_key``: validation loss), with new
  edges drawn in proportion to their scores, until ``trials`` trials have run.
* ``hyperband``: multi-fidelity; its candidate pool is round 0, and ``hyperband.Ladder``
  promotes candidates to more training steps (``adaptgraph.searcher.hyperband``).
* ``nsga2``: multi-objective (validation loss or accuracy against parameters); the same pool is
  generation 0, and Optuna's NSGA-II sampler breeds the later ones (``adaptgraph.searcher.nsga2``).
  Its Optuna study is state kept across rounds, so it has ``proposer(space, seed)`` instead of ``propose``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar, Optional, Protocol, Sequence

import numpy as np
from pydantic import ValidationError

from ..errors import Problem, ScoreError, SearchError
from ..registry import Registry
from ..score.select import candidates as score_candidates
from ..score.select import choose
from ..spec.edge_facts import stream_name
from .hyperband import Hyperband
from .mutations import MUTATIONS, mutate
from .nsga2 import NSGA2
from .records import Candidate, TrialRecord, rank_key
from .settings import GAMMA
from .space import Genome, SearchSpace, allocated_genome, genome_of

Proposed = Optional[list[Candidate]]


class Strategy(Protocol):
    """What the :class:`~adaptgraph.search.Searcher` needs from a strategy."""

    name: ClassVar[str]
    needs_scores: ClassVar[bool]
    trials_setting: ClassVar[Optional[str]]  # the setting ``--trials`` gives; None: one spec per k, no trials

    def propose(self, round: int, history: Sequence[TrialRecord], space: SearchSpace,
                rng: np.random.Generator) -> Proposed:
        """The candidates of ``round`` (may be empty), or None when the strategy is done."""
        ...

    def settings(self) -> dict:
        """The settings that change what it proposes (stored in the run's manifest)."""
        ...


@dataclass(frozen=True)
class Single:
    """Every allowed single edge, or a seeded ``sample`` of them (in edge order)."""

    sample: Optional[int] = None
    name: ClassVar[str] = "single"
    needs_scores: ClassVar[bool] = False
    trials_setting: ClassVar[str] = "sample"

    def propose(self, round, history, space, rng) -> Proposed:
        if round > 0:
            return None
        edges = [e for e in space.edges() if space.fits((space.gene(*e),), 1)]
        if self.sample is not None and self.sample < len(edges):
            keep = sorted(rng.choice(len(edges), size=self.sample, replace=False))
            edges = [edges[k] for k in keep]
        return [Candidate((space.gene(i, j),), f"single {stream_name(i)}->{stream_name(j)}", name=f"single_{i}_{j}") for i, j in edges]

    def settings(self) -> dict:
        return {"sample": self.sample}


@dataclass(frozen=True)
class RandomPlacement:
    """For each k of the budget, ``draws`` placements of k distinct edges drawn uniformly."""

    draws: int = 10
    name: ClassVar[str] = "random"
    needs_scores: ClassVar[bool] = False
    trials_setting: ClassVar[str] = "draws"

    def propose(self, round, history, space, rng) -> Proposed:
        if round > 0:
            return None
        edges = space.edges()
        out = []
        for k in space.budget.adapters:
            for d in range(self.draws):
                genome = uniform_genome(space, edges, k, rng)
                if genome:
                    out.append(Candidate(genome, f"random k={k} draw {d + 1}", name=f"random_k{k}_{d + 1}"))
        return out

    def settings(self) -> dict:
        return {"draws": self.draws}


@dataclass(frozen=True)
class GGA:
    """One greedy gradient-guided selection per k (discount ``gamma``, see ``adaptgraph.score.select``)."""

    gamma: float = GAMMA
    name: ClassVar[str] = "gga"
    needs_scores: ClassVar[bool] = True
    trials_setting: ClassVar[Optional[str]] = None

    def propose(self, round, history, space, rng) -> Proposed:
        if round > 0:
            return None
        return [Candidate(gga_genome(space, k, self.gamma), f"gga k={k}", name=f"gga_k{k}")
                for k in space.budget.adapters]

    def settings(self) -> dict:
        return {"gamma": self.gamma}


@dataclass(frozen=True)
class Evolve:
    """Mutate the best trials until ``trials`` have run; round 0 proposes the GGA pick of each k.

    Each later round makes ``population`` children (fewer near the end). A child's
    parent wins a tournament of ``tournament`` trials drawn from the ``population``
    best eligible ones; its mutation is drawn uniformly from ``mutations`` (among
    those that apply). A child whose spec was already seen is redrawn, up to
    ``attempts`` times.
    """

    trials: int = 24
    population: int = 8
    tournament: int = 2
    gamma: float = GAMMA
    mutations: tuple[str, ...] = field(default_factory=MUTATIONS.names)
    attempts: int = 50
    name: ClassVar[str] = "evolve"
    needs_scores: ClassVar[bool] = True
    trials_setting: ClassVar[str] = "trials"

    def __post_init__(self) -> None:
        if self.trials < 1 or self.population < 1 or self.tournament < 1 or self.attempts < 1:
            raise SearchError("evolve needs trials, population, tournament and attempts of at least 1, got "
                              f"{self.trials}, {self.population}, {self.tournament}, {self.attempts}")
        for m in self.mutations:
            MUTATIONS.lookup(m)

    def propose(self, round, history, space, rng) -> Proposed:
        if round == 0:
            return GGA(self.gamma).propose(0, history, space, rng)
        if len(history) >= self.trials:
            return None
        parents = sorted((r for r in history if r.eligible and r.proposal.genome), key=rank_key)[:self.population]
        if not parents:
            return None
        seen = {r.proposal.hash for r in history}
        children = []
        for _ in range(min(self.population, self.trials - len(history))):
            child = self._child(parents, space, rng, seen)
            if child is not None:
                children.append(child)
        return children

    def _child(self, parents, space, rng, seen: set) -> Optional[Candidate]:
        for _ in range(self.attempts):
            picks = rng.choice(len(parents), size=min(self.tournament, len(parents)), replace=False)
            parent = parents[int(min(picks))]  # parents are sorted best first
            mutated = mutate(parent.proposal.genome, space, rng, space.budget.max_adapters, self.mutations)
            if mutated is None:
                continue
            genome, how = mutated
            spec_hash = space.to_spec(genome).content_hash()
            if spec_hash not in seen:
                seen.add(spec_hash)
                return Candidate(genome, how, parent=parent.trial)
        return None

    def settings(self) -> dict:
        d = asdict(self)
        d["mutations"] = list(self.mutations)
        return d


# strategy name -> its settings class (called with the settings); a new strategy is one registration
STRATEGIES: Registry[type] = Registry("search strategy", SearchError)
STRATEGIES.register(Single.name, Single)
STRATEGIES.register(RandomPlacement.name, RandomPlacement)
STRATEGIES.register(GGA.name, GGA)
STRATEGIES.register(Evolve.name, Evolve)
STRATEGIES.register(Hyperband.name, Hyperband)
STRATEGIES.register(NSGA2.name, NSGA2)


def make_strategy(name: str, trials: Optional[int] = None, **settings) -> Strategy:
    """A strategy by name; ``trials`` is single's sample, random's draws per k, evolve's and nsga2's trial
    count or hyperband's number of candidates."""
    strategy = STRATEGIES.lookup(name)
    if trials is not None:
        if trials < 1:
            raise SearchError(f"the number of trials must be at least 1, got {trials}")
        setting = getattr(strategy, "trials_setting", None)
        if setting is None:
            raise SearchError(f"{name} trains one spec per k, so a number of trials does not apply",
                              hint="give the adapter counts with -k, e.g. -k 2 4 8")
        settings[setting] = trials
    try:
        return strategy(**settings)
    except ValidationError as e:  # hyperband's and nsga2's settings are pydantic models
        raise SearchError(problems=[Problem(f"{name} {'.'.join(map(str, err['loc'])) or 'settings'}: "
                                            f"{err['msg'].removeprefix('Value error, ')}",
                                            hint="see `adaptgraph search --help`") for err in e.errors()]) from None


def gga_genome(space: SearchSpace, k: int, gamma: float) -> Genome:
    """The GGA selection of k edges (fewer if the parameter budget runs out) as a genome."""
    if space.scores is None:
        raise SearchError("GGA needs edge scores, but this search space was not scored")
    try:
        cands = score_candidates(space.scores, points=space.points, widths=space.widths,
                                 kinds=space.budget.allowed_kinds, rank=space.budget.rank)
        chosen = choose(cands, k, strategy="gga", gamma=gamma, max_params=space.budget.params)
    except ScoreError as e:
        raise SearchError(problems=e.problems) from None
    if not chosen:
        raise SearchError(f"no single edge fits the parameter budget of {space.budget.params:,}",
                          hint="raise --budget-params or lower the rank")
    genome = genome_of(space.gene(c.src_index, c.dst_index) for c in chosen)
    return allocated_genome(space, genome) if space.budget.ranks == "allocated" else genome


def uniform_genome(space: SearchSpace, edges, k: int, rng: np.random.Generator) -> Genome:
    genes: tuple = ()
    for index in rng.permutation(len(edges)):
        if len(genes) == k:
            break
        gene = space.gene(*edges[int(index)])
        if space.fits(genes + (gene,), k):
            genes += (gene,)
    return genome_of(genes)
