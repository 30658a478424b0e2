"""``SearchResult``: every trial in one table, the Pareto front, the best spec and its final test."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..spec import Spec, loads
from .records import TrialOutcome, TrialRecord, at_top_fidelity, best_of


@dataclass(frozen=True)
class TrialSummary:
    """One trial as reported: what was trained, how it did at the search fidelity and, if retrained, at full budget."""

    trial: int
    round: int
    name: Optional[str]
    mutation: str
    parent: Optional[int]
    hash: str
    spec_text: str
    adapters: int
    params: int
    within_budget: bool
    status: str
    error: Optional[str]
    validation_accuracy: Optional[float]
    seconds: float
    on_front: bool = False
    final_status: Optional[str] = None  # set when the trial was retrained at full budget
    final_validation_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None
    steps: Optional[int] = None  # optimiser steps the trial trained (its rung, in a multi-fidelity search)

    @property
    def spec(self) -> Spec:
        return loads(self.spec_text, f"{self.name or 'trial'}.adapt")


@dataclass(frozen=True)
class SearchResult:
    """What a search found. ``best`` is chosen by validation loss at the search fidelity (``records.rank_key``:
    ties to higher accuracy, fewer parameters, then the earlier trial) among successful trials within the
    budget; its ``test_accuracy`` comes from one retraining at full budget."""

    strategy: str
    trials: tuple[TrialSummary, ...]
    best: Optional[TrialSummary]
    baseline: Optional[TrialSummary]
    front: tuple[int, ...]  # trial ids on the Pareto front (validation accuracy vs trainable parameters)
    duplicates: int  # proposals skipped because the same spec was already proposed
    run_dir: Optional[Path]
    seconds: float
    steps: Optional[dict] = None  # optimiser steps spent: {"search": all trials, all fidelities, "final": ...}

    @property
    def best_spec(self) -> Optional[Spec]:
        return self.best.spec if self.best else None

    @property
    def failed(self) -> tuple[TrialSummary, ...]:
        return tuple(t for t in self.trials if t.status != "ok")

    def to_dict(self) -> dict:
        """Plain data (the ``--json`` output and ``summary.json``)."""
        return {"strategy": self.strategy, "best": _plain(self.best), "baseline": _plain(self.baseline),
                "front": list(self.front), "duplicates": self.duplicates, "failed": len(self.failed),
                "trials": [_plain(t) for t in self.trials], "run_dir": str(self.run_dir) if self.run_dir else None,
                "seconds": round(self.seconds, 3), "steps": self.steps}


def pareto_front(records: Sequence[TrialRecord]) -> tuple[int, ...]:
    """Trial ids of successful trials no other beats on both accuracy and parameters, by parameters
    (in a multi-fidelity search, among the trials at the highest fidelity reached)."""
    ok = sorted((r for r in at_top_fidelity(r for r in records if r.accuracy is not None)), key=lambda r: (r.params, -r.accuracy, r.trial))
    front, best = [], -1.0
    for r in ok:
        if r.accuracy > best:
            front.append(r.trial)
            best = r.accuracy
    return tuple(front)


def summarise(strategy: str, history: Sequence[TrialRecord], finals: dict[int, TrialOutcome],
              baseline_trial: Optional[int], duplicates: int, run_dir: Optional[Path],
              seconds: float) -> SearchResult:
    """The result of a search from its trial records and the outcomes of the full-budget retraining."""
    front = pareto_front(history)
    rows = tuple(_row(r, r.trial in front, finals.get(r.trial)) for r in history)
    by_id = {row.trial: row for row in rows}
    best = best_of(history)
    return SearchResult(strategy, rows, by_id[best.trial] if best else None,
                        by_id.get(baseline_trial) if baseline_trial is not None else None,
                        front, duplicates, run_dir, seconds, steps_spent(history, finals))


def steps_spent(history: Sequence[TrialRecord], finals: dict[int, TrialOutcome]) -> dict:
    """Optimiser steps of every search trial (all fidelities) and of the final retraining. A failed trial
    counts the steps it planned (its rung, or the fidelity's), as its training may have run until it failed."""
    search = sum(r.outcome.steps if r.outcome.steps is not None else (r.proposal.steps or 0) for r in history)
    return {"search": search, "final": sum(o.steps or 0 for o in finals.values())}


def _row(record: TrialRecord, on_front: bool, final: Optional[TrialOutcome]) -> TrialSummary:
    p, o = record.proposal, record.outcome
    return TrialSummary(
        trial=p.trial, round=p.round, name=p.spec.name, mutation=p.mutation, parent=p.parent, hash=p.hash,
        spec_text=p.spec_text, adapters=len(p.spec.expanded()), params=record.params,
        within_budget=p.within_budget, status=o.status, error=o.error, validation_accuracy=o.accuracy,
        seconds=o.seconds, on_front=on_front, final_status=final.status if final else None,
        final_validation_accuracy=final.accuracy if final else None,
        test_accuracy=final.test_accuracy if final else None, steps=o.steps)


def _plain(row: Optional[TrialSummary]) -> Optional[dict]:
    return asdict(row) if row is not None else None
