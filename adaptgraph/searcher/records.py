"""The plain records a search passes around: candidates, proposals, trial outcomes, trial records."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

from ..spec import Spec, dumps
from .space import Genome

SEARCH, FINAL = "search", "final"
TRAINING = ("train_loss", "steps", "head_params", "train_seconds", "device")  # what fit measured, beside the metrics


@dataclass(frozen=True)
class Candidate:
    """What a strategy suggests: a genome (or, for a user's spec, just a spec), where it came from and why."""

    genome: Optional[Genome]
    mutation: str  # how it was made: "gga k=4", "single @3->@5", "add @2->@7", "baseline", ...
    parent: Optional[int] = None  # trial id of the spec it was mutated from
    spec: Optional[Spec] = None  # set for specs that are not genomes (a user's spec)
    name: Optional[str] = None


@dataclass(frozen=True)
class Proposal:
    """A candidate with a trial id, its spec and hash, its cost and its training seed."""

    trial: int
    round: int
    spec: Spec
    hash: str
    parent: Optional[int]
    mutation: str
    params: Optional[int]  # adapter parameters (None for a spec outside the stream space)
    within_budget: bool
    seed: int
    genome: Optional[Genome] = None
    steps: Optional[int] = None  # a multi-fidelity rung's optimiser steps; None: the search's fidelity

    @property
    def spec_text(self) -> str:
        return dumps(self.spec)


@dataclass(frozen=True)
class TrialOutcome:
    """What training one spec produced. ``validation``/``test`` are the evaluation dicts of ``fit``
    (accuracy and loss); the training fields are None for a failed trial and in journals written before them."""

    trial: int
    stage: str  # "search" (at the search fidelity) or "final" (full budget, with the test split)
    status: str  # "ok" or "failed"
    validation: Optional[dict] = None
    test: Optional[dict] = None
    trainable_params: Optional[int] = None  # adapters and trained modules, without the task head
    seconds: float = 0.0
    error: Optional[str] = None
    attempts: int = 1
    train_loss: Optional[float] = None  # mean training loss of the last epoch (of all steps, under one epoch)
    steps: Optional[int] = None  # optimiser steps taken
    head_params: Optional[int] = None  # parameters of the task head
    train_seconds: Optional[float] = None  # fit's own time (training and validation), without loading or compiling
    device: Optional[str] = None  # where it trained ("cpu", "cuda")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def accuracy(self) -> Optional[float]:
        return self.validation.get("accuracy") if self.ok and self.validation else None

    @property
    def test_accuracy(self) -> Optional[float]:
        return self.test.get("accuracy") if self.ok and self.test else None

    def to_dict(self) -> dict:
        return {"status": self.status, "metrics": {"validation": self.validation, "test": self.test},
                "trainable_params": self.trainable_params, "seconds": round(self.seconds, 3),
                "error": self.error, "attempts": self.attempts, **{k: getattr(self, k) for k in TRAINING}}

    @classmethod
    def from_dict(cls, trial: int, stage: str, data: dict) -> "TrialOutcome":
        metrics = data.get("metrics") or {}
        return cls(trial, stage, data["status"], metrics.get("validation"), metrics.get("test"),
                   data.get("trainable_params"), float(data.get("seconds") or 0.0), data.get("error"),
                   int(data.get("attempts") or 1), **{k: data.get(k) for k in TRAINING})


@dataclass(frozen=True)
class TrialRecord:
    """A proposal and its outcome at the search fidelity."""

    proposal: Proposal
    outcome: TrialOutcome

    @property
    def trial(self) -> int:
        return self.proposal.trial

    @property
    def accuracy(self) -> Optional[float]:
        return self.outcome.accuracy

    @property
    def eligible(self) -> bool:
        """Counts for the best spec: trained successfully and within the budget."""
        return self.outcome.ok and self.proposal.within_budget and self.accuracy is not None

    @property
    def params(self) -> int:
        """Trainable parameters as trained (falls back to the planned count)."""
        measured = self.outcome.trainable_params
        return measured if measured is not None else (self.proposal.params or 0)


def rank_key(record: TrialRecord) -> tuple:
    """Best first: lower validation loss, then higher validation accuracy, fewer parameters, the earlier trial.

    Validation loss, not accuracy, because it is what survives a new seed at a search's short
    fidelity: on hf:minilm with two WordNet tasks at 40 steps, the seed-to-seed Spearman rho of
    single-edge trials was 0.94 and 0.95 for validation loss against -0.18 and -0.05 for validation
    accuracy (``benchmarks/search_signal.py``, docs/search.md). A trial without a loss (journals
    written before losses were kept) ranks after those with one, by accuracy.
    """
    loss = record.outcome.validation.get("loss") if record.accuracy is not None else None
    accuracy = record.accuracy if record.accuracy is not None else -1.0
    return (loss is None, loss if loss is not None else 0.0, -accuracy, record.params, record.trial)


def best_of(records) -> Optional[TrialRecord]:
    """The best eligible record at the highest fidelity any eligible record reached, or None."""
    eligible = at_top_fidelity([r for r in records if r.eligible])
    return min(eligible, key=rank_key) if eligible else None


def at_top_fidelity(records) -> list[TrialRecord]:
    """The records trained at the most steps among ``records``: a multi-fidelity search compares specs only
    at one fidelity (a short trial's loss is not a long one's). Records without rung steps all count."""
    records = list(records)
    rungs = [r.proposal.steps for r in records if r.proposal.steps is not None]
    top = max(rungs, default=None)
    return [r for r in records if r.proposal.steps is None or r.proposal.steps == top]


def trial_seed(seed: int, spec_hash: str) -> int:
    """The training seed of a spec: a function of the search seed and the spec alone.

    So a spec trains the same way whichever trial proposes it and whichever
    worker runs it.
    """
    digest = hashlib.sha256(f"{seed}:{spec_hash}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)
