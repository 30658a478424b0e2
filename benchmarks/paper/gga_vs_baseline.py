"""Experiment 4: do a few adapters chosen by Gradient Guided Adapters (GGA) match the 12-adapter baseline?

For each task and each k of --ks: the GGA pick of k edges from the gradient-rank scores
(gamma 0.6; the scores of experiment 3), the k best scores (top-k) and k random edges
(random-k, a new draw per seed), each trained with every seed for --steps and tested,
against one parallel adapter per sub-layer (12 on MiniLM) and the linear probe. Then one
``evolve`` search (adaptgraph.searcher) with a budget of 4 adapters on the first task:
--evolve-trials trials of --fidelity-steps steps, the best retrained for --steps and tested.

    python -m benchmarks.paper.gga_vs_baseline [flags]      # see --help; defaults: the real protocol

Writes to --results: gga_vs_baseline.csv (one row per run), evolve.csv (one row per search
trial) and gga_vs_baseline.png. Resumable: finished runs are read back, and the evolve
search resumes from its journal.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Optional, Sequence

from . import common, placements, runstore
from .analysis import floats, spread, where

EXPERIMENT = "gga_vs_baseline"
METHODS = ("gga", "topk", "random")
EVOLVE_BUDGET = 4
COLUMNS = ("task", "method", "k", "seed", "steps", "label", "adapters", "edges", "recurrent", "val_acc", "val_loss",
           "test_acc", "train_loss", "params", "head_params", "seconds", "device", "spec_hash")
EVOLVE_COLUMNS = ("task", "trial", "round", "mutation", "parent", "adapters", "params", "within_budget", "status",
                  "val_acc", "final_val_acc", "test_acc", "best", "seconds", "edges")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    rows = []
    for task in s.tasks:
        rows += compare(s, task)
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    evolved = evolve(s, s.tasks[0])
    common.write_csv(s.results / "evolve.csv", evolved, EVOLVE_COLUMNS)
    plot(s, rows, evolved)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, evolve_task=s.tasks[0],
                      evolve_budget=EVOLVE_BUDGET)


def jobs(s: common.Settings, task: str) -> list[tuple]:
    """``(method, k, placement, seed)`` of every run on ``task``: the three selections, baseline and probe."""
    scores = placements.scores_for(s, task)
    out = []
    for k in s.ks:
        for seed in s.seeds:
            out += [(m, k, placements.chosen(s, scores, k, m, seed=seed), seed) for m in METHODS]
    base = placements.baseline(s)
    out += [("baseline", len(base.edges), base, seed) for seed in s.seeds]
    out += [("probe", 0, placements.probe(s), seed) for seed in s.seeds]
    return out


def compare(s: common.Settings, task: str, todo: Optional[list[tuple]] = None, what: str = "gga vs baseline"
            ) -> list[dict]:
    """Train ``todo`` (default: ``jobs(s, task)``) for --steps, tested; one row per run."""
    todo = jobs(s, task) if todo is None else todo
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.steps, test=True) for _, _, p, seed in todo]
    outcomes = runstore.run_all(runs, s, f"{what} {task}")
    return [{"task": task, "method": m, "k": k, "seed": seed, "steps": s.steps, **p.columns(), **o.to_row()}
            for (m, k, p, seed), o in zip(todo, outcomes)]


def evolve(s: common.Settings, task: str) -> list[dict]:
    """One evolve search with at most 4 adapters; its trials as rows (resumed from its journal)."""
    from adaptgraph.searcher import Budget, Evolve, Fidelity, Scoring, SearchConfig, search
    from adaptgraph.train import TrainConfig

    train = TrainConfig(steps=s.steps, batch_size=s.batch_size, lr=s.lr, max_length=s.max_length, device=s.device)
    settings = [s.backbone, task, s.rank, s.fidelity_steps, s.evolve_trials, s.score_batches, s.score_head,
                train.fingerprint()]
    key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:10]
    run_dir = s.runs / common.slug(task) / f"evolve-{common.slug(s.backbone)}-{key}"
    common.say(f"evolve search on {task} ({s.evolve_trials} trials) in {run_dir}")
    config = SearchConfig(strategy=Evolve(trials=s.evolve_trials, population=4),
                          budget=Budget(adapters=(EVOLVE_BUDGET,), rank=s.rank), fidelity=Fidelity(steps=s.fidelity_steps),
                          train=train, scoring=Scoring(batches=s.score_batches, max_length=s.max_length, head=s.score_head),
                          baseline=False, final="best", executor=common.executor(s), threads=s.threads,
                          resume=(run_dir / "manifest.json").exists(), seed=0)
    result = search(task, s.backbone, config, out=run_dir, progress=False)
    return [{"task": task, "trial": t.trial, "round": t.round, "mutation": t.mutation, "parent": t.parent,
             "adapters": t.adapters, "params": t.params, "within_budget": t.within_budget, "status": t.status,
             "val_acc": t.validation_accuracy, "final_val_acc": t.final_validation_accuracy,
             "test_acc": t.test_accuracy, "best": result.best is not None and t.trial == result.best.trial,
             "seconds": t.seconds, "edges": _edges(t.spec)} for t in result.trials]


def _edges(spec) -> str:
    return " ".join(f"{e.src}->{e.dst}" for e in spec.expanded())


def plot(s: common.Settings, rows: list[dict], evolved: list[dict]):
    """Per task: test accuracy against k for GGA, top-k and random-k (mean and seed range), the baseline
    and the probe (mean and seed range), and the evolve search's best spec."""
    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(s.tasks), figsize=(5.0 * len(s.tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], s.tasks):
        for method, colour, shift in (("gga", "tab:green", -0.06), ("topk", "tab:purple", 0.0),
                                      ("random", "tab:gray", 0.06)):
            stats = [(k, spread(floats(where(rows, task=task, method=method, k=k), "test_acc"))) for k in s.ks]
            stats = [(k, st) for k, st in stats if st]
            below = [(st.mean - st.lo) * 100 for _, st in stats]
            above = [(st.hi - st.mean) * 100 for _, st in stats]
            ax.errorbar([k * (1 + shift) for k, _ in stats], [st.mean * 100 for _, st in stats], yerr=[below, above],
                        marker="o", capsize=3, color=colour, label=method)
        best = [e for e in evolved if e["task"] == task and e["best"] and e["test_acc"] is not None]
        if best:
            ax.plot(best[0]["adapters"], best[0]["test_acc"] * 100, "D", color="tab:red", label="evolve best")
        references_and_axes(ax, rows, task, s.ks)
    fig.suptitle(f"GGA vs baselines on {s.backbone} ({s.steps} steps, {len(s.seeds)} seeds)", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


def references_and_axes(ax, rows: list[dict], task: str, ks, legend: int = 7) -> None:
    """The baseline's and the probe's test accuracy (mean, band over seeds), a log2 k axis, labels, legend."""
    for method, colour in (("baseline", "tab:orange"), ("probe", "black")):
        st = spread(floats(where(rows, task=task, method=method), "test_acc"))
        if st:
            ax.axhspan(st.lo * 100, st.hi * 100, color=colour, alpha=0.12)
            ax.axhline(st.mean * 100, color=colour, linestyle="--", label=method)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks), [str(k) for k in ks])
    ax.set_xlabel("adapters k")
    ax.set_ylabel("test accuracy % (bars: seed range)")
    ax.set_title(task, fontsize=9)
    ax.legend(fontsize=legend)


if __name__ == "__main__":
    main()
