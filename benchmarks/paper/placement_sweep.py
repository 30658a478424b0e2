"""Experiment 1: where a single adapter sits changes accuracy, and the best place depends on the task.

For each task, one adapter on every stream edge (the searcher's ``single`` strategy: 169
edges on MiniLM), trained for --fidelity-steps with the first seed and scored on the validation
split (the test split stays hidden, as in a search). Then the best and worst edge of each
task and the linear probe are trained again with every seed at the same fidelity (how
noisy is the sweep?) and with every seed for --steps, tested on the test split.

    python -m benchmarks.paper.placement_sweep            # the real protocol (hf:minilm, two tasks)
    python -m benchmarks.paper.placement_sweep --backbone zoo:bert-tiny \\
        --task 'wordnet:noun.animal,noun.food,noun.plant?per_class=40' --fidelity-steps 5 --steps 5

Writes to --results: placement_sweep.csv (every fidelity run), placement_retrain.csv (the
full runs), placement_heatmaps.png, placement_tasks.png. Resumable: finished runs are read back.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

from . import common, placements, runstore
from .analysis import edge_values, heat_matrix, maps_correlation, ranked_edges

EXPERIMENT = "placement_sweep"
SWEEP_COLUMNS = ("task", "role", "label", "edges", "src", "dst", "kind", "seed", "steps", "val_acc", "val_loss",
                 "train_loss", "params", "seconds", "device", "spec_hash")
RETRAIN_COLUMNS = ("task", "role", "label", "edges", "adapters", "recurrent", "seed", "steps", "val_acc", "val_loss",
                   "test_acc", "train_loss", "params", "head_params", "seconds", "device", "spec_hash")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    edges = placements.single_edges(s)
    sweep_rows, retrain_rows = [], []
    for task in s.tasks:
        rows = sweep(s, task, edges)
        best, worst = pick(rows)
        chosen = [("best", best), ("worst", worst), ("probe", placements.probe(s))]
        sweep_rows += rows + fidelity_check(s, task, chosen)
        retrain_rows += retrain(s, task, chosen)
        write(s, sweep_rows, retrain_rows)
    n = placements.space(s).n
    plot_heatmaps(s, sweep_rows, n)
    plot_tasks(s, sweep_rows)
    common.write_meta(s, EXPERIMENT, "placement_sweep", argv, started, edges=len(edges), points=n)


def sweep(s: common.Settings, task: str, edges: list) -> list[dict]:
    """Every single edge on ``task`` at the sweep fidelity, all with the first seed: one row each."""
    seed = s.seeds[0]  # one seed for every edge: the same head initialisation and batch order everywhere
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.fidelity_steps, test=False) for p in edges]
    outcomes = runstore.run_all(runs, s, f"sweep {task}")
    return [sweep_row(task, "edge", p, seed, s.fidelity_steps, o) for p, o in zip(edges, outcomes)]


def pick(rows: list[dict]) -> tuple:
    """The best and the worst edge of a task's sweep, as placements (see ``analysis.ranked_edges``)."""
    ranked = ranked_edges([r for r in rows if r["role"] == "edge"])
    return ranked[0]["placement"], ranked[-1]["placement"]


def fidelity_check(s: common.Settings, task: str, chosen: list) -> list[dict]:
    """``(role, placement)`` pairs with every seed at the sweep fidelity (the first seed of an edge is its sweep run)."""
    jobs = [(role, p, seed) for role, p in chosen for seed in s.seeds]
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.fidelity_steps, test=False) for _, p, seed in jobs]
    outcomes = runstore.run_all(runs, s, f"sweep check {task}")
    return [sweep_row(task, role, p, seed, s.fidelity_steps, o) for (role, p, seed), o in zip(jobs, outcomes)]


def retrain(s: common.Settings, task: str, chosen: list) -> list[dict]:
    """``(role, placement)`` pairs (best edge, worst edge, linear probe), every seed, for --steps, tested."""
    jobs = [(role, p, seed) for role, p in chosen for seed in s.seeds]
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.steps, test=True) for _, p, seed in jobs]
    outcomes = runstore.run_all(runs, s, f"retrain {task}")
    return [{"task": task, "role": role, "seed": seed, "steps": s.steps, **p.columns(), **o.to_row()}
            for (role, p, seed), o in zip(jobs, outcomes)]


def sweep_row(task: str, role: str, p, seed: int, steps: int, o) -> dict:
    """The CSV row of a single-edge (or probe) run at the sweep fidelity."""
    src, dst = p.edges[0] if p.edges else ("", "")
    return {"task": task, "role": role, "src": src, "dst": dst, "kind": p.kinds[0] if p.kinds else "",
            "seed": seed, "steps": steps, "placement": p, **p.columns(), **o.to_row()}


def write(s: common.Settings, sweep_rows: list[dict], retrain_rows: list[dict]) -> None:
    common.write_csv(s.results / "placement_sweep.csv", sweep_rows, SWEEP_COLUMNS)
    common.write_csv(s.results / "placement_retrain.csv", retrain_rows, RETRAIN_COLUMNS)


HEAT = {"val_acc": ("validation accuracy %", 100, "placement_heatmaps"),
        "train_loss": ("training loss (last epoch)", 1, "placement_loss_heatmaps")}


def plot_heatmaps(s: common.Settings, rows: list[dict], n: int, key: str = "val_acc"):
    """One heat map of a single-edge value (``HEAT``) per task, [source, destination]."""
    plt = common.pyplot()
    label, scale, name = HEAT[key]
    fig, axes = plt.subplots(1, len(s.tasks), figsize=(5.2 * len(s.tasks), 4.6), squeeze=False)
    for ax, task in zip(axes[0], s.tasks):
        task_rows = [r for r in rows if r["task"] == task and r["role"] == "edge"]
        m = heat_matrix(edge_values(task_rows, key), n)
        im = ax.imshow(m * scale, cmap="viridis" if key == "val_acc" else "viridis_r", origin="upper")
        ranked = ranked_edges(task_rows)
        for r, marker, colour in ((ranked[0], "*", "red"), (ranked[-1], "x", "white")):
            ax.plot(int(r["dst"]), int(r["src"]), marker, color=colour, markersize=12)
        ax.set_title(f"{task}\nbest {ranked[0]['edges']} (*), worst {ranked[-1]['edges']} (x) by val. acc.",
                     fontsize=9)
        ax.set_xlabel("destination point @j")
        ax.set_ylabel("source point @i")
        fig.colorbar(im, ax=ax, label=f"{label} ({s.fidelity_steps} steps)")
    fig.suptitle(f"One rank-{s.rank} adapter per edge on {s.backbone} (below the diagonal: recurrent)", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{name}.png")


def plot_tasks(s: common.Settings, rows: list[dict]):
    """Each edge's validation accuracy on the first task against the second (when there are two)."""
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    if len(s.tasks) >= 2:
        a, b = (edge_values([r for r in rows if r["task"] == t and r["role"] == "edge"]) for t in s.tasks[:2])
        common_edges = sorted(set(a) & set(b))
        ax.scatter([a[e] * 100 for e in common_edges], [b[e] * 100 for e in common_edges], s=12, alpha=0.7)
        c = maps_correlation(a, b)
        ax.set_title(f"Spearman rho {c.rho:.2f} (n={c.n})" if c else "too few edges for a correlation", fontsize=10)
        ax.set_xlabel(f"{s.tasks[0]} val. acc. %", fontsize=8)
        ax.set_ylabel(f"{s.tasks[1]} val. acc. %", fontsize=8)
    else:
        ax.text(0.5, 0.5, "one task only: no correlation", ha="center", va="center")
    fig.tight_layout()
    return common.save_figure(fig, s.results / "placement_tasks.png")


if __name__ == "__main__":
    main()
