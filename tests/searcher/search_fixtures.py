"""A tiny text task, a synthetic search space, and trial functions that crash, for the search tests."""
from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import numpy as np

from adaptgraph.searcher import Budget, SearchSpace
from adaptgraph.searcher.records import TrialOutcome
from adaptgraph.searcher.trial import TrainedTrial

POOLS = {
    "animal": "cat dog horse cow sheep goat lion tiger wolf bear",
    "food": "bread cheese apple soup rice pasta cake bean pear plum",
    "tool": "hammer saw drill wrench pliers chisel file level rake axe",
}
FILLER = "the a some big small old new red green very quite".split()

# settings every search test shares: tiny model, a few steps, quick scoring
FAST = dict(train_steps=6, fidelity_steps=4)


def write_task(path: Path, per_class: int = 20, seed: int = 0) -> Path:
    """A CSV of short sentences whose class shows in one or two content words."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for label, pool in POOLS.items():
            words = pool.split()
            for _ in range(per_class):
                sentence = rng.sample(FILLER, rng.randint(2, 5)) + rng.sample(words, rng.randint(1, 2))
                rng.shuffle(sentence)
                writer.writerow([" ".join(sentence), label])
    return path


def synthetic_space(n: int = 7, budget: Budget | None = None, seed: int = 0, width: int = 16) -> SearchSpace:
    """Stream points @0..@n-1 of one width with random positive integer scores (no model needed)."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(1, 20, size=(n, n)).astype(float)
    return SearchSpace(tuple(f"@{k}" for k in range(n)), (width,) * n, tuple(range(n)), budget or Budget(),
                       "zoo:bert-tiny", None, scores)


def crash_once(task) -> TrainedTrial:
    """Dies on trials in ``crash_once`` the first time (a marker file remembers) and always on ``always_crash``."""
    marker = Path(task.config["marker_dir"]) / f"seen_{task.trial}"
    first = task.trial in task.config["crash_once"] and not marker.exists()
    if first or task.trial == task.config["always_crash"]:
        marker.touch()
        os._exit(7)
    return TrainedTrial(TrialOutcome(task.trial, task.stage, "ok", {"accuracy": 0.5}, None, 10, 0.0))


def quick_search(task_file: Path, run_dir, **overrides):
    """``search`` on zoo:bert-tiny with the tiny task, a few training steps and a cheap scoring pass."""
    from adaptgraph.searcher import Budget, Fidelity, Scoring, SearchConfig, search
    from adaptgraph.train import TrainConfig

    settings = dict(strategy="gga", budget=Budget(adapters=(1, 2)), fidelity=Fidelity(steps=FAST["fidelity_steps"]),
                    train=TrainConfig(steps=FAST["train_steps"], batch_size=8, lr=1e-2, device="cpu"),
                    scoring=Scoring(batches=1, batch_size=8, head="random"), seed=0)
    settings.update(overrides)
    return search(f"csv:{task_file}", "zoo:bert-tiny", SearchConfig(**settings), out=run_dir, progress=False)


def comparable(result) -> list[dict]:
    """A result's trials without timings, for comparing runs."""
    return [{k: v for k, v in vars(t).items() if k != "seconds"} for t in result.trials]
