"""Experiment 2: random placements from the extended space against one parallel adapter per sub-layer.

For each task, --draws placements of 12 distinct edges drawn uniformly from all stream
edges (the searcher's ``random`` strategy, seed 0; recurrent and long-range edges
included), each trained once (with the first seed), against the common baseline of one parallel adapter
per sub-layer (12 on MiniLM) trained with every seed. All runs train for --steps and are
tested on the test split.

    python -m benchmarks.paper.random_vs_baseline [flags]      # see --help; defaults: the real protocol

Writes to --results: random_vs_baseline.csv (one row per run) and random_vs_baseline.png.
Resumable: finished runs are read back.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

from . import common, placements, runstore
from .analysis import floats, spread, where

EXPERIMENT = "random_vs_baseline"
COLUMNS = ("task", "role", "label", "draw", "seed", "steps", "adapters", "edges", "recurrent", "val_acc", "val_loss",
           "test_acc", "train_loss", "params", "head_params", "seconds", "device", "spec_hash")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    base = placements.baseline(s)
    draws = placements.random_draws(s, k=len(base.edges))
    rows = []
    for task in s.tasks:
        jobs = [("random", d, n, s.seeds[0]) for n, d in enumerate(draws, 1)]
        jobs += [("baseline", base, "", seed) for seed in s.seeds]
        runs = [runstore.make_run(s, task, p.spec, seed, steps=s.steps, test=True) for _, p, _, seed in jobs]
        outcomes = runstore.run_all(runs, s, f"random vs baseline {task}")
        rows += [{"task": task, "role": role, "draw": n, "seed": seed, "steps": s.steps, **p.columns(), **o.to_row()}
                 for (role, p, n, seed), o in zip(jobs, outcomes)]
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    plot(s, rows, len(base.edges))
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, adapters=len(base.edges))


def plot(s: common.Settings, rows: list[dict], adapters: int):
    """Per task: the test accuracy of each random draw, and the baseline's seeds with its mean and range."""
    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(s.tasks), figsize=(4.2 * len(s.tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], s.tasks):
        rand = floats(where(rows, task=task, role="random"), "test_acc")
        base = floats(where(rows, task=task, role="baseline"), "test_acc")
        b = spread(base)
        ax.axhspan(b.lo * 100, b.hi * 100, color="tab:orange", alpha=0.2, label="baseline seed range")
        ax.axhline(b.mean * 100, color="tab:orange", label=f"baseline mean ({b.n} seeds)")
        ax.scatter([0.0] * len(base), [v * 100 for v in base], color="tab:orange", zorder=3)
        jitter = [1.0 + 0.15 * ((k % 7) - 3) / 3 for k in range(len(rand))]
        ax.scatter(jitter, [v * 100 for v in rand], color="tab:blue", zorder=3, label=f"random draws ({len(rand)})")
        ax.set_xticks([0, 1], ["baseline", f"random {adapters}"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_ylabel("test accuracy %")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7, loc="lower center")
    fig.suptitle(f"{adapters} adapters on {s.backbone}: random edges vs one parallel adapter per sub-layer "
                 f"({s.steps} steps)", fontsize=9)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


if __name__ == "__main__":
    main()
