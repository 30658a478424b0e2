"""Experiment 3: does the gradient rank of an edge predict how well a single adapter there does?

Scores every edge of the backbone on each task once (``adaptgraph.score.score_edges``: one
forward and backward pass per batch of the unmodified backbone, --score-batches batches, a
linear-probe head) and correlates each score (numerical rank, effective rank, Frobenius and
nuclear norm of the edge's gradient) with the single-edge validation accuracy and
training loss of experiment 1 (Spearman, scipy.stats.spearmanr), per task. Run
placement_sweep.py first (with the same flags).

    python -m benchmarks.paper.rank_predicts [flags]      # see --help; defaults: the real protocol

Writes to --results: rank_predicts_edges.csv (each edge's scores beside its sweep result),
rank_predicts.csv (one correlation per task, score and target) and rank_predicts.png.
Resumable: the scores of a task are computed once and read back (in --runs).
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

from . import common, placements
from .analysis import spearman, where

EXPERIMENT = "rank_predicts"
METRICS = ("rank", "erank", "fro", "nuclear")
TARGETS = ("val_acc", "train_loss")
EDGE_COLUMNS = ("task", "src", "dst", "kind", *METRICS, "rank_cap", "val_acc", "train_loss")
CORRELATION_COLUMNS = ("task", "metric", "target", "rho", "p", "n", "distinct_scores")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    sweep = _sweep_rows(s)
    edges, correlations, timings = [], [], {}
    for task in s.tasks:
        scores = placements.scores_for(s, task)
        timings[task] = dict(scores.timings)
        matrices = {m: scores.matrix(m) for m in METRICS}
        task_edges = [_with_scores(r, scores, matrices) for r in where(sweep, task=task, role="edge")]
        edges += task_edges
        correlations += correlate(task, task_edges)
    common.write_csv(s.results / f"{EXPERIMENT}_edges.csv", edges, EDGE_COLUMNS)
    common.write_csv(s.results / f"{EXPERIMENT}.csv", correlations, CORRELATION_COLUMNS)
    plot(s, edges, correlations)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, scoring_seconds=timings)


def _sweep_rows(s: common.Settings) -> list[dict]:
    path = s.results / "placement_sweep.csv"
    if not path.exists():
        raise SystemExit(f"error: {path} does not exist; run benchmarks.paper.placement_sweep with the same flags first")
    rows = common.read_csv(path)
    missing = [t for t in s.tasks if not where(rows, task=t, role="edge")]
    if missing:
        raise SystemExit(f"error: {path} has no sweep of {', '.join(missing)}; run benchmarks.paper.placement_sweep for it first")
    return rows


def _with_scores(row: dict, scores, matrices: dict) -> dict:
    i, j = int(row["src"]), int(row["dst"])
    values = {m: float(matrices[m][i, j]) for m in METRICS}
    cap = min(scores.tokens[i], scores.widths[i], scores.widths[j])  # the rank cannot exceed this
    return {"task": row["task"], "src": i, "dst": j, "kind": row["kind"], **values, "rank_cap": cap,
            "val_acc": float(row["val_acc"]), "train_loss": float(row["train_loss"])}


def correlate(task: str, edges: list[dict]) -> list[dict]:
    """Spearman's rho of every score with every target over the task's edges."""
    out = []
    for metric in METRICS:
        x = [e[metric] for e in edges]
        for target in TARGETS:
            c = spearman(x, [e[target] for e in edges])
            out.append({"task": task, "metric": metric, "target": target, "rho": c.rho if c else None,
                        "p": c.p if c else None, "n": c.n if c else len(edges), "distinct_scores": len(set(x))})
    return out


def plot(s: common.Settings, edges: list[dict], correlations: list[dict]):
    """Rows: tasks; columns: scores; each dot an edge (score against single-edge validation accuracy)."""
    plt = common.pyplot()
    fig, axes = plt.subplots(len(s.tasks), len(METRICS), figsize=(3.2 * len(METRICS), 3.0 * len(s.tasks)),
                             squeeze=False)
    for row, task in zip(axes, s.tasks):
        task_edges = where(edges, task=task)
        for ax, metric in zip(row, METRICS):
            colours = ["tab:red" if e["kind"] == "recurrent" else "tab:blue" for e in task_edges]
            ax.scatter([e[metric] for e in task_edges], [e["val_acc"] * 100 for e in task_edges], s=10,
                       c=colours, alpha=0.7)
            if metric in ("fro", "nuclear"):
                ax.set_xscale("log")
            c = where(correlations, task=task, metric=metric, target="val_acc")[0]
            rho = f"rho {c['rho']:.2f}" if c["rho"] is not None else "rho undefined"
            ax.set_title(f"{metric}: {rho}", fontsize=9)
            ax.set_xlabel(metric, fontsize=8)
        row[0].set_ylabel(f"{task}\nval. acc. %", fontsize=7)
    fig.suptitle(f"Gradient scores vs single-edge accuracy on {s.backbone} (red: recurrent edges)", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


if __name__ == "__main__":
    main()
