"""One trial: compile a spec, train it, evaluate it. A pure function of its ``TrialTask``.

Everything that decides the result travels in the task (spec text, task and
backbone references, the training settings with the trial's own seed, the number
of CPU threads), so the ``local``, ``process`` and ``ray`` executors produce the
same outcome for the same task. Failures (a spec that does not compile, an
out-of-memory error, any exception) become a ``failed`` outcome with the error
text; only a worker that dies is the executor's business.
"""
from __future__ import annotations

import contextlib
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .records import TrialOutcome

_TASKS: dict = {}  # (reference, seed) -> loaded task, per process: workers run many trials of one task


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial."""

    trial: int
    stage: str  # "search" hides the test split; "final" evaluates it
    spec_text: str
    task: object  # a task reference (str) or a picklable Task object
    task_seed: int
    backbone: object  # a backbone reference (str) or a Backbone
    config: dict  # TrainConfig fields, including the trial's seed and its steps or epochs
    threads: int = 1  # torch CPU threads: results match across executors only for the same number
    keep_weights: bool = False  # return the trained adapters and head as safetensors bytes
    trust_code: bool = False  # allow a ``py:MODULE:FACTORY`` backbone reference to run its code


@dataclass(frozen=True)
class TrainedTrial:
    """An outcome plus, when asked for, the trained weights."""

    outcome: TrialOutcome
    weights: Optional[bytes] = None


class WithoutTest:
    """A task whose test split looks empty, so that search trials never see it."""

    def __init__(self, task):
        self._task = task
        self.name, self.num_classes = task.name, task.num_classes
        self.class_names, self.modality = task.class_names, task.modality

    def examples(self, split: str) -> list:
        return [] if split == "test" else self._task.examples(split)

    def fingerprint(self) -> str:
        return self._task.fingerprint()


def run_trial(task: TrialTask) -> TrainedTrial:
    """Train ``task.spec_text`` as ``task`` says; never raises for a failing trial."""
    tic = time.perf_counter()
    try:
        with threads_set(task.threads):
            return _train(task, tic)
    except Exception as e:  # noqa: BLE001 - every failure of a trial is recorded, and the search goes on
        _free_memory()
        return TrainedTrial(TrialOutcome(task.trial, task.stage, "failed", seconds=time.perf_counter() - tic,
                                         error=_error_text(e)))


def _train(task: TrialTask, tic: float) -> TrainedTrial:
    from ..compiler import compile as compile_spec
    from ..backbones import get_backbone
    from ..spec import loads
    from ..tasks import bind_task
    from ..train import TrainConfig, fit

    spec = loads(task.spec_text, f"trial_{task.trial}.adapt")
    backbone = get_backbone(task.backbone, trust_code=task.trust_code)
    data = bind_task(load_task_cached(task.task, task.task_seed), backbone)  # lm: tasks need the tokenizer
    config = TrainConfig(**task.config)
    model = compile_spec(spec, backbone, seed=config.seed)
    result = fit(model, backbone, WithoutTest(data) if task.stage == "search" else data, config, progress=False)
    weights = _weights(model, result.head, result.metrics) if task.keep_weights else None
    return TrainedTrial(_outcome(task, result, time.perf_counter() - tic), weights)


def _outcome(task: TrialTask, result, seconds: float) -> TrialOutcome:
    """The ``ok`` outcome of a trial from what ``fit`` returned."""
    metrics = result.metrics
    params = metrics["trainable_parameters"]
    return TrialOutcome(task.trial, task.stage, "ok", metrics["validation"], metrics["test"], params["model"],
                        seconds, train_loss=result.log[-1]["train_loss"], steps=metrics["steps"],
                        head_params=params["head"], train_seconds=metrics["timing"]["total_seconds"],
                        device=metrics["device"])


def load_task_cached(ref, seed: int):
    """``load_task(ref, seed)``, loaded once per process for a reference; Task objects pass through."""
    from ..tasks import load_task

    if not isinstance(ref, str):
        return load_task(ref, seed)
    key = (ref, seed)
    if key not in _TASKS:
        _TASKS[key] = load_task(ref, seed)
    return _TASKS[key]


def _weights(model, head, metrics: dict) -> bytes:
    """The trained adapters and head as the bytes of an adaptgraph ``.safetensors`` file."""
    from ..compiler.adapter_files import adapter_file_bytes

    meta = {"head": json.dumps(head.describe()), "task": str(metrics["task"]),
            "test_accuracy": json.dumps(metrics["test_accuracy"])}
    return adapter_file_bytes(model, extra={"head": head.state_dict()}, metadata=meta)


@contextlib.contextmanager
def threads_set(n: int):
    """Run the block on ``n`` torch CPU threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _error_text(e: Exception) -> str:
    text = e.format() if hasattr(e, "format") and callable(e.format) else str(e)
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where and not hasattr(e, "problems") else ""
    return f"{type(e).__name__}: {text}{at}"


def _free_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one
