"""Training runs of the protocol, one folder each, shared by every experiment and resumed by skipping.

A run is (task, spec, seed, training budget). Its folder is named by the task, the
budget's fingerprint and the spec's content hash, so the same spec trained the same way
(the 12-adapter baseline of experiments 2 and 4, top-1 and GGA k=1, the linear probe) is
trained once and read back everywhere. A folder with ``metrics.json`` is finished; one
without it (a run that was killed) is trained again from the start.

Runs go through ``adaptgraph.compile`` and ``adaptgraph.train.fit``, in ``workers`` processes
(one torch thread each by default), because ``fit`` writes the training loss per epoch
(``log.jsonl``), which the search journal does not keep and experiment 3 needs.
"""
from __future__ import annotations

import concurrent.futures as futures
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from common import Settings, say, slug

METRICS, LOG, SPEC = "metrics.json", "log.jsonl", "spec.adapt"


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
        return (self.folder / METRICS).exists()


@dataclass(frozen=True)
class Outcome:
    """What a finished run measured (from its ``metrics.json`` and ``log.jsonl``)."""

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
    metrics = json.loads((folder / METRICS).read_text())
    log = [json.loads(line) for line in (folder / LOG).read_text().splitlines() if line.strip()]
    test = metrics.get("test") or {}
    params = metrics["trainable_parameters"]
    return Outcome(val_acc=metrics["validation"]["accuracy"], val_loss=metrics["validation"]["loss"],
                   test_acc=test.get("accuracy"), train_loss=log[-1]["train_loss"], params=params["model"],
                   head_params=params["head"], seconds=metrics["timing"]["total_seconds"], device=metrics["device"])


def _train(todo: list[Run], workers: int, threads: int, what: str) -> list[tuple[Run, str]]:
    errors = []
    if workers == 1 or len(todo) <= 1:
        for k, run in enumerate(todo, 1):
            err = train_run(run, threads)
            _progress(what, k, len(todo), run, err)
            if err:
                errors.append((run, err))
        return errors
    from adaptgraph.searcher.executors import worker_context

    pool = futures.ProcessPoolExecutor(workers, mp_context=worker_context())
    try:
        pending = {pool.submit(train_run, run, threads): run for run in todo}
        for k, done in enumerate(futures.as_completed(pending), 1):
            run = pending[done]
            err = done.result() if done.exception() is None else f"worker died: {done.exception()}"
            _progress(what, k, len(todo), run, err)
            if err:
                errors.append((run, err))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: stop now; finished runs are kept
        raise
    pool.shutdown()
    return errors


def train_run(run: Run, threads: int) -> Optional[str]:
    """Train one run into its folder; returns the error text instead of raising (the others go on)."""
    import torch

    from adaptgraph import compile, loads
    from adaptgraph.backbones import get_backbone
    from adaptgraph.fileio import write_text_atomic
    from adaptgraph.searcher.trial import WithoutTest, load_task_cached
    from adaptgraph.train import TrainConfig, fit

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        backbone = get_backbone(run.backbone)
        config = TrainConfig(**run.config)
        task = load_task_cached(run.task, 0)
        model = compile(loads(run.spec_text), backbone, seed=config.seed)
        write_text_atomic(run.folder / SPEC, run.spec_text)
        fit(model, backbone, task if run.test else WithoutTest(task), config, run.folder, overwrite=False,
            progress=False)
        return None
    except Exception as e:  # noqa: BLE001 - one failed run must not lose the others; reported at the end
        return f"{type(e).__name__}: {e}"
    finally:
        torch.set_num_threads(before)


def _progress(what: str, k: int, n: int, run: Run, err: Optional[str]) -> None:
    if err:
        say(f"  {what} {k}/{n} FAILED {run.folder.name}: {err}")
        return
    o = read_outcome(run.folder)
    say(f"  {what} {k}/{n} {run.folder.parent.name}/{run.folder.name}: val {o.val_acc:.4f} "
        f"loss {o.train_loss:.3f} ({o.seconds:.0f} s)")
