"""``nsga2``: multi-objective search for the front of validation signal against trainable parameters.

Every trial trains at the search's fidelity (nothing is pruned) and has two objectives: its validation loss
(or accuracy, ``objective``) and its trainable adapter parameters. Optuna's ``NSGAIISampler`` chooses what to
train next: each generation's specs are bred (crossover and mutation) from the non-dominated, least crowded
specs of the generations so far, so the search looks for the Pareto front itself rather than reading it off
trials made for one objective.

A spec is encoded for Optuna as ``slots`` = the largest k adapter slots, each with an edge (or ``none``), a
rank, an activation and a scale. A bred child is decoded to a genome within the budget: a repeated edge is
kept once, and while the spec is over the parameter cap its most expensive adapter is dropped. The first
generation is the candidate pool hyperband starts from (GGA picks, random placements, mutations; see
``candidate_pool.candidate_pool``), given to the study with ``enqueue_trial``.

Generations are the :class:`~adaptgraph.searcher.Searcher`'s rounds: a generation is asked only when every
trial of the one before has been told, in trial order, so what NSGA-II proposes depends on the seed and the
results alone, not on the order an executor finishes trials in. Optuna's state is kept in memory and rebuilt
on ``--resume`` by the same asks and tells from the journal. A child whose spec was trained already (by an
earlier trial or a reference) is not trained again: the study is told that trial's values.
"""
from __future__ import annotations

from typing import ClassVar, Literal, Optional, Sequence

import numpy as np
from pydantic import Field, model_validator

from ..errors import SearchError
from ..spec import Options
from .candidate_pool import PooledSettings, candidate_pool, optuna_module
from .mutations import ACTS, RANKS, SCALES
from .records import Candidate, TrialRecord
from .space import Genome, SearchSpace, genome_of

OBJECTIVES = ("val_loss", "val_accuracy")
NONE = "none"  # an empty adapter slot
ATTEMPTS = 50  # children asked per wanted child before a generation is left short (all decoded to nothing)


class NSGA2(PooledSettings):
    """The settings of a multi-objective search (``--strategy nsga2``); see the module docstring."""

    trials: int = Field(24, ge=2)
    """Distinct specs the study evaluates, the first generation included (``--trials``)."""
    population: int = Field(8, ge=2)
    """Specs per generation, and the size of the population NSGA-II keeps (Optuna's ``population_size``)."""
    objective: Literal[OBJECTIVES] = "val_loss"
    """The first objective: validation loss (minimised; what ranks trials) or validation accuracy (maximised)."""
    crossover_prob: float = Field(0.9, ge=0.0, le=1.0)
    """Probability that a child is a crossover of two parents (else a copy of one) before mutation."""
    mutation_prob: Optional[float] = Field(None, ge=0.0, le=1.0)
    """Probability that each encoded value of a child is redrawn (None: Optuna's 1 / number of values)."""

    name: ClassVar[str] = "nsga2"
    trials_setting: ClassVar[str] = "trials"

    @model_validator(mode="after")
    def _bred(self) -> "NSGA2":
        if self.trials <= self.population:
            raise ValueError(f"trials ({self.trials}) must be more than population ({self.population}), or no "
                             "spec is bred from the first generation; raise --trials or lower --population")
        return self

    def proposer(self, space: SearchSpace, seed: int) -> "Generations":
        """The state of one search: what the :class:`Searcher` asks for each round's candidates."""
        return Generations(self, space, seed)


class Generations:
    """One NSGA-II search: an Optuna study with an ``NSGAIISampler``, and its trials waiting for values."""

    def __init__(self, settings: NSGA2, space: SearchSpace, seed: int):
        optuna = optuna_module(settings.name)
        self.settings, self.space = settings, space
        self.slots = space.budget.max_adapters
        self.sampler = optuna.samplers.NSGAIISampler(
            population_size=settings.population, crossover_prob=settings.crossover_prob,
            mutation_prob=settings.mutation_prob, seed=seed)
        first = "maximize" if settings.objective == "val_accuracy" else "minimize"
        self.study = optuna.create_study(study_name="nsga2", directions=[first, "minimize"], sampler=self.sampler)
        self._edges = {space.gene(i, j).describe(): (i, j) for i, j in space.edges()}  # "@i->@j", as genes say
        self._distributions: dict = {}
        self._waiting: list[tuple[object, str]] = []  # (Optuna trial, spec hash), in the order asked
        self.evaluated: set[str] = set()  # spec hashes the study was told values (or failure) for

    def propose(self, round: int, history: Sequence[TrialRecord], rng: np.random.Generator
                ) -> Optional[list[Candidate]]:
        """Round 0: the first generation (the candidate pool); later rounds: children bred by NSGA-II."""
        self._tell(history)
        s = self.settings
        if round == 0:
            pool = candidate_pool(self.space, rng, s.population, s.gga, s.gamma)
            self._distributions = self._encoding(pool)
            for c in pool:
                self.study.enqueue_trial(self.encode(c.genome))
                trial = self.study.ask(self._distributions)
                self._generation(trial)  # an enqueued trial is not sampled, so the sampler has not numbered it
                self._asked(trial, c.genome)
            return pool
        remaining = s.trials - len(self.evaluated)
        if remaining <= 0:
            return None
        children = (self._child() for _ in range(min(s.population, remaining)))
        return [c for c in children if c is not None]

    # -- Optuna's side -------------------------------------------------------------
    def _child(self) -> Optional[Candidate]:
        from optuna.trial import TrialState

        for _ in range(ATTEMPTS):
            trial = self.study.ask(self._distributions)
            genome, repaired = self.decode(trial.params)
            if genome is None:  # every slot empty: nothing to train, and nothing for NSGA-II to learn
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            self._asked(trial, genome)
            return Candidate(genome, f"nsga2 generation {self._generation(trial)}" + " (repaired)" * repaired)
        return None

    def _generation(self, trial) -> int:
        """The NSGA-II generation of an asked trial (set by the sampler, or now where it did not sample)."""
        return self.sampler.get_trial_generation(self.study, self.study.get_trials(deepcopy=False)[trial.number])

    def _asked(self, trial, genome: Genome) -> None:
        self._waiting.append((trial, self.space.to_spec(genome).content_hash()))

    def _tell(self, history: Sequence[TrialRecord]) -> None:
        """Tell the study the values of the trials asked last round, in the order they were asked."""
        from optuna.trial import TrialState

        by_hash = {r.proposal.hash: r for r in history}
        for trial, spec_hash in self._waiting:
            record = by_hash.get(spec_hash)
            if record is None:
                raise SearchError(f"nsga2: spec {spec_hash} was proposed but has no result",
                                  hint="tell() every trial of a round before asking for the next")
            values = self.values(record)
            if values is None:
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, values)
            self.evaluated.add(spec_hash)
        self._waiting = []

    def values(self, record: TrialRecord) -> Optional[list[float]]:
        """The trial's objectives: validation loss (or accuracy) and trainable parameters; None when it failed."""
        if record.accuracy is None:
            return None
        first = record.accuracy if self.settings.objective == "val_accuracy" else record.outcome.validation.get("loss")
        return None if first is None else [float(first), float(record.params)]

    # -- encoding ------------------------------------------------------------------
    def _encoding(self, pool: Sequence[Candidate]) -> dict:
        """One edge, rank, activation and scale per slot; ranks span the pool's and mutations' ranks."""
        from optuna.distributions import CategoricalDistribution, IntDistribution

        top = max([RANKS[-1], self.space.budget.rank] + [g.options.rank for c in pool for g in c.genome])
        edges = CategoricalDistribution((NONE, *self._edges))
        out: dict = {}
        for s in range(self.slots):
            out.update({f"edge_{s}": edges, f"rank_{s}": IntDistribution(1, top, log=True),
                        f"act_{s}": CategoricalDistribution(ACTS), f"scale_{s}": CategoricalDistribution(SCALES)})
        return out

    def encode(self, genome: Genome) -> dict:
        """A genome as the study's parameters (slots in genome order, then empty ones)."""
        base = self.space.default_options
        out: dict = {}
        for s in range(self.slots):
            gene = genome[s] if s < len(genome) else None
            options = gene.options if gene else base
            out.update({f"edge_{s}": gene.describe() if gene else NONE, f"rank_{s}": options.rank,
                        f"act_{s}": options.act,
                        f"scale_{s}": options.scale if options.scale in SCALES else SCALES[0]})
        return out

    def decode(self, params: dict) -> tuple[Optional[Genome], bool]:
        """The genome of a child's parameters, within the budget; and whether it had to be repaired."""
        base, genes, repaired = self.space.default_options.model_dump(), {}, False
        for s in range(self.slots):
            edge = self._edges.get(params[f"edge_{s}"])
            if edge is None:
                continue
            if edge in genes:
                repaired = True
                continue
            options = Options(**{**base, "rank": params[f"rank_{s}"], "act": params[f"act_{s}"],
                                 "scale": params[f"scale_{s}"]})
            genes[edge] = self.space.gene(*edge, options)
        genome = genome_of(genes.values())
        while genome and not self.space.fits(genome):  # over the parameter cap: drop the dearest adapter
            drop = max(range(len(genome)), key=lambda k: (self.space.gene_params(genome[k]), k))
            genome, repaired = genome[:drop] + genome[drop + 1:], True
        return genome or None, repaired
