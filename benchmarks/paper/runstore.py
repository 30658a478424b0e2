"""Training runs of the protocol, one folder each, shared by every experiment and resumed by skipping.

A run is (task, spec, seed, training budget). Its folder is named by the task, the
budget's fingerprint and the spec's content hash, so the same spec trained the same way
(the 12-adapter baseline of experiments 2 and 4, top-1 and GGA k=1, the linear probe) is
trained once and read back everywhere. A folder with ``outcome.json`` is finished; one
without it (a run that was killed) is trained again from the start.

A run is a search trial: ``adaptgraph.searcher.run_trial`` trains it (compile, fit, the
test split hidden unless the run is tested, on ``threads`` torch threads), on the search's
executors (``workers`` processes, one torch thread each by default), and ``outcome.json``
is its ``TrialOutcome`` as the search journal keeps it, training loss included.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .common import Settings, say, slug

OUTCOME, SPEC = "outcome.json", "spec.adapt"


@dataclass(frozen=True)
class Run:
    """One training run: what to train, how, and where its folder is."""

    task: str
    spec_text: str
    spec_hash: str
    backbone: str
    config: dict  # TrainConfig fields, seed included
    folder: Path
    test: bool  # evaluate the test split (comparison runs) or hide it (sweep trials, as a search does)

    @property
    def finished(self) -> bool:
        return (self.folder / OUTCOME).exists()

    def trial(self, number: int, threads: int):
        """The search trial that trains this run (task split seed 0, as every run of the protocol)."""
        from adaptgraph.searcher import TrialTask

        return TrialTask(number, "final" if self.test else "search", self.spec_text, self.task, 0, self.backbone,
                         self.config, threads)


@dataclass(frozen=True)
class Outcome:
    """What a finished run measured (from its ``outcome.json``)."""

    val_acc: float
    val_loss: float
    test_acc: Optional[float]
    train_loss: float  # mean training loss over the last epoch (the whole run when it is under one epoch)
    params: int  # trainable adapter parameters, without the task head
    head_params: int
    seconds: float
    device: str

    def to_row(self) -> dict:
        return dict(self.__dict__)


def make_run(settings: Settings, task: str, spec, seed: int, *, steps: int, test: bool) -> Run:
    """The run of ``spec`` (a Spec) on ``task`` with ``seed`` for ``steps`` steps at the protocol's settings."""
    from adaptgraph import dumps
    from adaptgraph.train import TrainConfig

    config = TrainConfig(steps=steps, batch_size=settings.batch_size, lr=settings.lr,
                         max_length=settings.max_length, device=settings.device, seed=seed)
    budget = config.model_copy(update={"seed": 0}).fingerprint()[:10]
    spec_hash = spec.content_hash()
    kind = "full" if test else "trial"
    folder = (settings.runs / slug(task) / f"{slug(settings.backbone)}-{kind}-{steps}steps-{budget}"
              / f"{spec_hash[:12]}-s{seed}")
    return Run(task, dumps(spec), spec_hash, settings.backbone, config.model_dump(), folder, test)


def run_all(runs: Sequence[Run], settings: Settings, what: str = "runs") -> list[Outcome]:
    """Train every unfinished run (``settings.workers`` at a time) and return every run's outcome, in order.

    Runs that fail are reported together after the others have finished (and been saved),
    so a rerun retries only them.
    """
    todo = list({r.folder: r for r in runs if not r.finished}.values())
    say(f"{what}: {len(runs) - len(todo)} of {len(runs)} already finished, {len(todo)} to train")
    errors = _train(todo, settings.workers, settings.threads, what)
    if errors:
        lines = "\n".join(f"  {run.folder}: {err}" for run, err in errors)
        raise SystemExit(f"error: {len(errors)} of {len(todo)} {what} failed (rerun to retry them):\n{lines}")
    return [read_outcome(r.folder) for r in runs]


def read_outcome(folder: Path) -> Outcome:
    from adaptgraph.searcher import TrialOutcome

    o = TrialOutcome.from_dict(0, "", json.loads((folder / OUTCOME).read_text()))
    return Outcome(val_acc=o.accuracy, val_loss=o.validation["loss"], test_acc=o.test_accuracy,
                   train_loss=o.train_loss, params=o.trainable_params, head_params=o.head_params,
                   seconds=o.train_seconds, device=o.device)


def _train(todo: list[Run], workers: int, threads: int, what: str) -> list[tuple[Run, str]]:
    """Train ``todo`` on the search's executors; each finished run is saved as it ends. Returns the failures."""
    from adaptgraph.searcher import LocalExecutor, ProcessExecutor

    errors, count = [], itertools.count(1)

    def done(trained) -> None:
        outcome = trained.outcome
        run = todo[outcome.trial]
        if outcome.ok:
            save(run, outcome)
        else:
            errors.append((run, outcome.error))
        _progress(what, next(count), len(todo), run, outcome.error)

    parallel = workers > 1 and len(todo) > 1
    with (ProcessExecutor(workers) if parallel else LocalExecutor()) as executor:  # Ctrl-C: workers stop at once
        executor.run([run.trial(n, threads) for n, run in enumerate(todo)], done)
    return errors


def save(run: Run, outcome) -> None:
    """The run's spec and then its outcome (last: its presence marks the run finished)."""
    from adaptgraph.fileio import write_text_atomic

    write_text_atomic(run.folder / SPEC, run.spec_text)
    write_text_atomic(run.folder / OUTCOME, json.dumps(outcome.to_dict(), sort_keys=True) + "\n")


def _progress(what: str, k: int, n: int, run: Run, err: Optional[str]) -> None:
    if err:
        say(f"  {what} {k}/{n} FAILED {run.folder.name}: {err}")
        return
    o = read_outcome(run.folder)
    say(f"  {what} {k}/{n} {run.folder.parent.name}/{run.folder.name}: val {o.val_acc:.4f} "
        f"loss {o.train_loss:.3f} ({o.seconds:.0f} s)")
