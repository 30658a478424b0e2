"""The ask/tell ``Searcher``: a strategy's proposals, numbered, deduplicated and recorded.

Drive it yourself::

    searcher = Searcher(GGA(), space, seed=0)
    while proposals := searcher.ask():
        for p in proposals:
            searcher.tell(p.trial, my_training(p.spec))   # a TrialOutcome
    searcher.best

Proposals come in rounds. ``ask`` returns a whole round; the next round is
proposed only after every trial of this one is told, and from the finished
trials in trial-id order. With a round's random generator seeded by
``(seed, round)``, every proposal is a pure function of the seed and the results
told so far, whatever order the results arrive in: replaying a journal rebuilds
the same searcher.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import SearchError
from .records import Candidate, Proposal, TrialOutcome, TrialRecord, best_of, trial_seed
from .space import SearchSpace
from .strategies import Strategy

MAX_EMPTY_ROUNDS = 3  # rounds in a row that propose only seen specs before the search stops


class Searcher:
    """Numbered, deduplicated proposals of ``strategy`` in ``space``; see the module docstring.

    A strategy that keeps state from round to round (``nsga2``'s Optuna study) has ``proposer(space, seed)``
    instead of ``propose``: the searcher starts one and asks it each round, so replaying the same results
    rebuilds the same state. ``references`` are candidates trained in round 0 beside the strategy's own
    (the every-sub-layer baseline, a user's specs); they are parents for
    ``evolve`` when they fit the budget.
    """

    def __init__(self, strategy: Strategy, space: SearchSpace, seed: int = 0,
                 references: Sequence[Candidate] = ()):
        if strategy.needs_scores and space.scores is None:
            raise SearchError(f"strategy {strategy.name!r} needs edge scores, but the search space has none")
        self.strategy, self.space, self.seed = strategy, space, seed
        self.proposer = strategy.proposer(space, seed) if hasattr(strategy, "proposer") else None
        self.references = tuple(references)
        self.duplicates = 0  # proposals skipped because their spec was already proposed
        self.rounds = 0
        self._history: list[TrialRecord] = []
        self._pending: dict[int, Proposal] = {}
        self._told: dict[int, TrialOutcome] = {}
        self._seen: dict[str, int] = {}  # spec hash -> trial id
        self._finished = False
        self._empty = 0

    # -- the loop -------------------------------------------------------------------
    def ask(self) -> list[Proposal]:
        """The next round of proposals; empty when the search is over."""
        if self._pending:
            waiting = sorted(set(self._pending) - set(self._told))
            raise SearchError(f"trials {waiting} have no result yet", hint="tell() every trial of a round first")
        while not self._finished:
            round_, self.rounds = self.rounds, self.rounds + 1
            history, rng = tuple(self._history), self.rng(round_)
            proposed = (self.proposer.propose(round_, history, rng) if self.proposer is not None
                        else self.strategy.propose(round_, history, self.space, rng))
            if proposed is None:
                self._finished = True
            candidates = (list(self.references) if round_ == 0 else []) + list(proposed or [])
            proposals = [p for p in (self._admit(c, round_) for c in candidates) if p is not None]
            if proposals:
                self._empty = 0
                self._pending = {p.trial: p for p in proposals}
                return proposals
            self._empty += 1
            self._finished = self._finished or self._empty >= MAX_EMPTY_ROUNDS
        return []

    def tell(self, trial: int, outcome: TrialOutcome) -> None:
        """Record the outcome of a pending trial (in any order)."""
        if trial not in self._pending:
            raise SearchError(f"trial {trial} is not waiting for a result",
                              hint=f"pending trials: {sorted(self._pending)}")
        self._told[trial] = outcome
        if len(self._told) == len(self._pending):
            self._history += [TrialRecord(self._pending[t], self._told[t]) for t in sorted(self._pending)]
            self._pending, self._told = {}, {}

    def rng(self, round_: int) -> np.random.Generator:
        """The generator of one round: a function of the seed and the round only."""
        return np.random.default_rng([self.seed, round_])

    # -- reading --------------------------------------------------------------------
    @property
    def history(self) -> tuple[TrialRecord, ...]:
        """Finished trials of completed rounds, in trial order."""
        return tuple(self._history)

    @property
    def pending(self) -> tuple[Proposal, ...]:
        return tuple(self._pending[t] for t in sorted(self._pending))

    @property
    def finished(self) -> bool:
        return self._finished and not self._pending

    @property
    def best(self) -> Optional[TrialRecord]:
        """The best eligible trial: highest validation accuracy, then fewest parameters, then earliest."""
        return best_of(self._history)

    # -- internals ------------------------------------------------------------------
    def _admit(self, cand: Candidate, round_: int) -> Optional[Proposal]:
        trial = len(self._seen)
        spec = self._spec_of(cand, trial)
        spec_hash = spec.content_hash()
        if spec_hash in self._seen:
            self.duplicates += 1
            return None
        self._seen[spec_hash] = trial
        genome = cand.genome
        params = self.space.params(genome) if genome else None
        within = bool(genome) and self.space.fits(genome)
        return Proposal(trial, round_, spec, spec_hash, cand.parent, cand.mutation, params, within,
                        trial_seed(self.seed, spec_hash), genome)

    def _spec_of(self, cand: Candidate, trial: int):
        name = cand.name or f"trial_{trial}"
        if cand.genome:
            return self.space.to_spec(cand.genome, name)
        if cand.spec is None:
            raise SearchError(f"candidate {cand.mutation!r} has neither a genome nor a spec")
        spec = cand.spec
        if spec.backbone and self.space.backbone and spec.backbone != self.space.backbone:
            raise SearchError(f"spec {spec.name or '(unnamed)'} is for backbone {spec.backbone!r}, "
                              f"but the search runs on {self.space.backbone!r}")
        return spec.model_copy(update={"backbone": self.space.backbone or spec.backbone,
                                       "name": spec.name or name})
