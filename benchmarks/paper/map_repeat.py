"""Experiment 1b: is a task's single-edge map reproducible when the seed changes?

The sweep trains every edge with the first seed, so all edges share one head
initialisation and one batch order; the re-seeded best and worst edges show how far a
single run moves with the seed. Neither says whether the *ordering* of edges survives a
new seed, which is what claims 1 (the maps) and 3 (what the scores should predict) rest
on. This trains a seeded sample of --repeat-sample edges per task again with the second
seed at the sweep fidelity and correlates the two seeds (Spearman), for validation
accuracy and for training loss. Then, per task, the edges with the lowest and the highest
sweep training loss (the map that does survive a new seed, on MiniLM) are trained with every
seed for --steps and tested, as placement_sweep.py does for the best and worst by accuracy.

    python -m benchmarks.paper.map_repeat                 # after placement_sweep.py, same flags

Writes to --results: placement_repeat.csv (both seeds of every sampled edge),
placement_repeat.png, placement_loss_retrain.csv (the retrained lowest- and highest-loss edges),
and placement_loss_heatmaps.png (the sweep's training-loss maps, the
counterpart of placement_sweep.py's accuracy maps). Resumable: finished runs are read back (the first seed's are the sweep's).
"""
from __future__ import annotations

import random
import time
from typing import Optional, Sequence

from . import common, placement_sweep, placements, runstore
from .analysis import Correlation, spearman

EXPERIMENT = "placement_repeat"
COLUMNS = ("task", "edges", "src", "dst", "kind", "seed", "steps", "val_acc", "val_loss", "train_loss", "seconds",
           "device", "spec_hash")
TARGETS = ("val_acc", "train_loss")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    if len(s.seeds) < 2:
        raise SystemExit("error: benchmarks.paper.map_repeat needs two seeds (--seeds A B ...): it compares the first two")
    sweep_path = s.results / "placement_sweep.csv"
    if not sweep_path.exists():
        raise SystemExit(f"error: {sweep_path} is missing: run benchmarks.paper.placement_sweep with the same flags first")
    sweep = common.read_csv(sweep_path)
    edges = sample(s)
    rows, retrained = [], []
    for task in s.tasks:
        retrained += placement_sweep.retrain(s, task, by_loss(s, sweep, task))
        common.write_csv(s.results / "placement_loss_retrain.csv", retrained, placement_sweep.RETRAIN_COLUMNS)
        jobs = [(p, seed) for p in edges for seed in s.seeds[:2]]
        runs = [runstore.make_run(s, task, p.spec, seed, steps=s.fidelity_steps, test=False) for p, seed in jobs]
        outcomes = runstore.run_all(runs, s, f"repeat {task}")
        rows += [placement_sweep.sweep_row(task, "repeat", p, seed, s.fidelity_steps, o)
                 for (p, seed), o in zip(jobs, outcomes)]
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    plot(s, rows)
    placement_sweep.plot_heatmaps(s, sweep, placements.space(s).n, "train_loss")
    common.write_meta(s, EXPERIMENT, "map_repeat", argv, started, edges=len(edges))


def sample(s: common.Settings) -> list:
    """A seeded sample of the swept edges (the same on every task), in sweep order."""
    edges = placements.single_edges(s)
    keep = set(random.Random(0).sample(range(len(edges)), min(s.repeat_sample, len(edges))))
    return [p for n, p in enumerate(edges) if n in keep]


def by_loss(s: common.Settings, sweep: list[dict], task: str) -> list[tuple]:
    """``[("low_loss", placement), ("high_loss", placement)]``: the swept edges of ``task`` with the extreme
    training loss (ties: the earlier edge in sweep order)."""
    edges = [r for r in sweep if r["task"] == task and r["role"] == "edge"]
    if not edges:
        raise SystemExit(f"error: placement_sweep.csv has no sweep of {task}: run benchmarks.paper.placement_sweep with the same flags")
    low = min(edges, key=lambda r: float(r["train_loss"]))
    high = max(edges, key=lambda r: float(r["train_loss"]))
    return [(role, placements.single(s, int(r["src"]), int(r["dst"]))) for role, r in (("low_loss", low),
                                                                                      ("high_loss", high))]


def seed_pairs(rows: Sequence[dict], task: str, target: str) -> tuple[list[float], list[float]]:
    """(first seed's values, second seed's values) of ``target`` over the edges both seeds trained on ``task``."""
    by_seed: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["task"] == task and r[target] not in ("", None):
            by_seed.setdefault(str(r["seed"]), {})[r["edges"]] = float(r[target])
    if len(by_seed) < 2:
        return [], []
    a, b = (by_seed[k] for k in sorted(by_seed, key=int)[:2])
    both = [e for e in a if e in b]
    return [a[e] for e in both], [b[e] for e in both]


def reproducibility(rows: Sequence[dict], task: str, target: str) -> Optional[Correlation]:
    """Spearman correlation of the two seeds' values of ``target`` on ``task``."""
    return spearman(*seed_pairs(rows, task, target))


def plot(s: common.Settings, rows: list[dict]):
    plt = common.pyplot()
    fig, axes = plt.subplots(len(TARGETS), len(s.tasks), figsize=(4.4 * len(s.tasks), 8), squeeze=False)
    for col, task in enumerate(s.tasks):
        for row, target in enumerate(TARGETS):
            ax, (x, y) = axes[row][col], seed_pairs(rows, task, target)
            ax.scatter(x, y, s=14, alpha=0.7)
            c = reproducibility(rows, task, target)
            rho = f"rho {c.rho:.2f} (p {c.p:.2g}, n={c.n})" if c else "no correlation (too few or constant)"
            ax.set_title(f"{task}\n{target}: {rho}", fontsize=8)
            ax.set_xlabel(f"seed {s.seeds[0]}", fontsize=8)
            ax.set_ylabel(f"seed {s.seeds[1]}", fontsize=8)
    fig.suptitle(f"Sweep runs ({s.fidelity_steps} steps) of the same edges with two seeds", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


if __name__ == "__main__":
    main()
