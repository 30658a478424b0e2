"""``hyperband``: multi-fidelity search, where compute goes to the specs whose training signal is best.

Many candidate specs (GGA picks, mutations of the candidates so far and uniform random
placements, all within the budget) are trained for a few optimiser steps; the best by a
reproducible signal are promoted to ``eta`` times more steps, and so on up to ``max_steps``
(successive halving). Hyperband's brackets hedge against a too aggressive start: bracket
``b`` starts its candidates at ``min_steps * eta**b``, and gets fewer of them.

The scheduling is Optuna's: each bracket is an Optuna study whose
``SuccessiveHalvingPruner`` (asynchronous successive halving, ASHA) decides, when a
trial finishes, whether its spec goes on to the next rung. A *trial* is one spec
trained from scratch at one rung's steps (the learning-rate schedule spans the
trial's own steps), so every trial's steps are counted once, and a promoted spec is
a new trial whose ``parent`` is its trial at the rung below.

Optuna's state is kept in memory and rebuilt from adaptgraph's journal: the trials'
outcomes are told to the studies in the order the journal recorded them, which is the
order the run told them, so a resumed run makes every promotion again, numbers the
promoted trials the same, and reads back every finished trial instead of training it.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar, Literal, Optional, Sequence

import numpy as np
from pydantic import Field, model_validator

from ..errors import SearchError
from .candidate_pool import PooledSettings, candidate_pool, optuna_module
from .records import Candidate, Proposal, TrialOutcome, TrialRecord, best_of
from .space import SearchSpace

SIGNALS = ("train_loss", "val_loss")


class Hyperband(PooledSettings):
    """The settings of a multi-fidelity search (``--strategy hyperband``); see the module docstring."""

    candidates: int = Field(27, ge=1)
    """Specs started at the lowest rung of their bracket (``--trials``)."""
    min_steps: int = Field(10, ge=1)
    """Optimiser steps of the lowest rung."""
    max_steps: int = Field(90, ge=1)
    """Optimiser steps of the highest rung: ``min_steps`` times a power of ``eta``."""
    eta: int = Field(3, ge=2)
    """Each rung trains ``eta`` times more steps and keeps about 1 in ``eta`` of the specs."""
    brackets: Optional[int] = Field(None, ge=1)
    """Hyperband brackets to use, most aggressive first (None: all; 1: plain successive halving)."""
    signal: Literal[SIGNALS] = "train_loss"
    """What promotes a spec: its mean training loss over the trial's steps, or its validation loss."""

    name: ClassVar[str] = "hyperband"
    trials_setting: ClassVar[str] = "candidates"

    @model_validator(mode="after")
    def _ladder(self) -> "Hyperband":
        ratio = self.max_steps / self.min_steps
        levels = round(math.log(ratio, self.eta)) if ratio >= 1 else -1
        if levels < 1 or self.min_steps * self.eta ** levels != self.max_steps:
            near = self.min_steps * self.eta ** max(1, levels)
            raise ValueError(f"max_steps ({self.max_steps}) must be min_steps ({self.min_steps}) times a power of "
                             f"eta ({self.eta}), at least once, for example {near}")
        return self

    @property
    def levels(self) -> int:
        """Promotions from ``min_steps`` to ``max_steps``."""
        return round(math.log(self.max_steps / self.min_steps, self.eta))

    @property
    def bracket_count(self) -> int:
        return min(self.brackets or self.levels + 1, self.levels + 1)

    def rungs(self, bracket: int) -> list[int]:
        """The steps at which a spec of ``bracket`` is trained, lowest first."""
        return [self.min_steps * self.eta ** r for r in range(bracket, self.levels + 1)]

    def bracket_sizes(self, n: int) -> list[int]:
        """How many of ``n`` candidates each bracket starts: Hyperband's ``ceil(B/R * eta^s / (s+1))`` shares,
        rounded by largest remainder."""
        weights = np.array([math.ceil((self.levels + 1) * self.eta ** s / (s + 1))
                            for s in range(self.levels, self.levels - self.bracket_count, -1)], dtype=float)
        share = n * weights / weights.sum()
        sizes = np.floor(share).astype(int)
        for b in np.argsort(-(share - sizes), kind="stable")[:n - sizes.sum()]:
            sizes[b] += 1
        return [int(s) for s in sizes]

    def propose(self, round, history, space, rng) -> Optional[list[Candidate]]:
        """Round 0: the candidate pool (the :class:`Ladder` promotes from there; there are no later rounds)."""
        return candidate_pool(space, rng, self.candidates, self.gga, self.gamma) if round == 0 else None


class Ladder:
    """The multi-fidelity scheduler: a pool of proposals, promoted rung by rung by Optuna's pruners.

    ``initial`` are the first trials (references at ``max_steps``, candidates at their bracket's lowest rung);
    ``tell`` records a finished trial and returns the trial it promotes (none, or one). Like ``Searcher``
    it exposes ``history``, ``best``, ``duplicates`` and ``strategy``.
    """

    def __init__(self, strategy: Hyperband, space: SearchSpace, seed: int = 0,
                 references: Sequence[Candidate] = ()):
        from .searcher import Searcher  # it imports the strategies, which list this one

        optuna = optuna_module("hyperband")
        pool_searcher = Searcher(strategy, space, seed, references)
        pool = pool_searcher.ask()
        self.strategy, self.space, self.seed = strategy, space, seed
        self.duplicates = pool_searcher.duplicates
        refs = {c.mutation for c in references}
        candidates = [p for p in pool if p.mutation not in refs]
        self._studies = [optuna.create_study(
            study_name=f"bracket_{b}", direction="minimize",
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=strategy.min_steps,
                                                          reduction_factor=strategy.eta,
                                                          min_early_stopping_rate=b, bootstrap_count=0))
            for b in range(strategy.bracket_count)]
        # candidates go to brackets in a seeded random order, so that no kind of candidate gets the first rung
        brackets = np.repeat(np.arange(strategy.bracket_count), strategy.bracket_sizes(len(candidates)))
        bracket_of = np.empty(len(candidates), dtype=int)
        bracket_of[np.random.default_rng([seed, len(pool)]).permutation(len(candidates))] = brackets
        self._trial_of: dict[str, tuple[int, object]] = {}  # spec hash -> (bracket, its Optuna trial)
        self.initial: list[Proposal] = [replace(p, steps=strategy.max_steps) for p in pool if p.mutation in refs]
        for p, b in zip(candidates, bracket_of):
            self._trial_of[p.hash] = (int(b), self._studies[b].ask())
            self.initial.append(replace(p, steps=strategy.rungs(b)[0], round=int(b)))
        self.initial.sort(key=lambda p: p.trial)
        self._pending = {p.trial: p for p in self.initial}
        self._next = len(pool)
        self._history: list[TrialRecord] = []

    def pending(self, trial: int) -> Optional[Proposal]:
        """The proposal of a trial that has not been told yet, or None."""
        return self._pending.get(trial)

    @property
    def waiting(self) -> list[Proposal]:
        return [self._pending[t] for t in sorted(self._pending)]

    def tell(self, record: TrialRecord) -> list[Proposal]:
        """Record a finished trial; report its signal to its bracket's study and return its promotion, if any."""
        from optuna.trial import TrialState

        p = self._pending.pop(record.trial, None)
        if p is None:
            raise SearchError(f"trial {record.trial} is not waiting for a result")
        self._history.append(record)
        if p.hash not in self._trial_of:  # a reference: trained at max_steps, not scheduled
            return []
        bracket, trial = self._trial_of[p.hash]
        study, value = self._studies[bracket], signal_of(record.outcome, self.strategy.signal)
        if value is None:
            study.tell(trial, state=TrialState.FAIL)
            return []
        trial.report(value, step=p.steps)
        if p.steps >= self.strategy.max_steps:
            study.tell(trial, value)
            return []
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return []
        promoted = replace(p, trial=self._next, round=p.round + 1, steps=p.steps * self.strategy.eta,
                           parent=p.trial)
        self._next += 1
        self._pending[promoted.trial] = promoted
        return [promoted]

    @property
    def history(self) -> tuple[TrialRecord, ...]:
        """Finished trials, in trial order."""
        return tuple(sorted(self._history, key=lambda r: r.trial))

    @property
    def best(self) -> Optional[TrialRecord]:
        return best_of(self._history)

    @property
    def finished(self) -> bool:
        return not self._pending


def signal_of(outcome: TrialOutcome, signal: str) -> Optional[float]:
    """The promotion signal of a trial (None when it failed or did not measure it)."""
    if not outcome.ok:
        return None
    if signal == "train_loss":
        return outcome.train_loss
    return (outcome.validation or {}).get("loss")
