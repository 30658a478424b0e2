"""Beyond the paper (issue 16, item 5): does any automatic placement beat random picks?

For each task, each k (2, 4 and 6; --ks to change) and each seed:

* three placements: random-k (a new draw per seed, as in claim 4), GGA on the gradient rank,
  and GGA on the score that best predicted the reproducible training-loss map of claim 3
  (``best_score``: chosen from ``rank_predicts.csv`` by a rule, not by hand);
* each with the default initialisation (``init = zero``) and the gradient-aligned one
  (``init = grad``), and with equal ranks (--rank each) and allocated ranks (the same
  parameters shared out from the gradient spectra: ``adaptgraph.score.allocate_chosen``);
* plus the 12-adapter baseline and the linear probe;

every run trained for --steps (claim 4's budget) and tested. The verdict rules are in
``beyond_verdicts.py``, written before any run; ``report.py`` renders the section from
``beyond.csv`` alone.

    python -m benchmarks.paper.beyond --fidelity-steps 40   # k = 2, 4, 6 unless --ks; resumable
    python -m benchmarks.paper.report --fidelity-steps 40   # then the section "Beyond the paper"

Writes to --results: beyond.csv (one row per run), beyond.png and beyond.meta.json. Runs are
folders under --runs like every run of the protocol, so an interrupted invocation continues
and specs shared with claim 4 (its random draws, GGA on rank, the baseline, the probe) are
trained once.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Optional, Sequence

from . import common, placements, runstore
from .gga_vs_baseline import references_and_axes
from .analysis import floats, spread, where

EXPERIMENT = "beyond"
KS = (2, 4, 6)
INITS = ("zero", "grad")
RANKS = ("equal", "allocated")
FALLBACK_SCORE = "fro"
COLUMNS = ("task", "method", "init", "ranks", "k", "seed", "steps", "label", "adapters", "edges", "edge_ranks",
           "recurrent", "val_acc", "val_loss", "test_acc", "train_loss", "params", "head_params", "seconds", "device",
           "spec_hash")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    if "--ks" not in common.arguments(argv):
        s = dataclasses.replace(s, ks=KS)  # this comparison's own k, unless asked for others
    metric, why = best_score(s.results)
    common.say(f"best score: {metric} ({why})")
    rows: list[dict] = []
    for task in s.tasks:
        rows += compare(s, task, metric)
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    plot(s, rows)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, best_score=metric, best_score_rule=why)


def best_score(results: Path) -> tuple[str, str]:
    """The metric other than rank whose Spearman rho with the single-edge training loss is the most negative
    on its worst task (claim 3's CSV); ``fro`` when that CSV is not there."""
    path = results / "rank_predicts.csv"
    if not path.exists():
        return FALLBACK_SCORE, f"no rank_predicts.csv in {results}: the default {FALLBACK_SCORE}"
    rows = [r for r in common.read_csv(path) if r["target"] == "train_loss" and r["metric"] != "rank"]
    worst = {}
    for r in rows:
        worst[r["metric"]] = max(worst.get(r["metric"], -1.0), float(r["rho"]))
    metric = min(worst, key=worst.get)
    return metric, f"most negative worst-task rho with training loss in rank_predicts.csv ({worst[metric]:+.2f})"


def variants(metric: str) -> list[tuple[str, str, str]]:
    """``(method, init, ranks)`` of every variant: 3 placements x 2 initialisations x 2 rank modes."""
    return [(m, i, r) for m in ("random", "gga_rank", f"gga_{metric}") for i in INITS for r in RANKS]


def jobs(s: common.Settings, task: str, metric: str) -> list[tuple]:
    """``(method, init, ranks, k, placement, seed)`` of every run on ``task``."""
    scores = _scores(s, task)
    out = []
    for k in s.ks:
        for seed in s.seeds:
            for method, init, ranks in variants(metric):
                out.append((method, init, ranks, k, placement(s, scores, method, k, seed, init, ranks), seed))
    base = placements.baseline(s)
    out += [("baseline", "zero", "equal", len(base.edges), base, seed) for seed in s.seeds]
    out += [("probe", "zero", "equal", 0, placements.probe(s), seed) for seed in s.seeds]
    return out


def placement(s: common.Settings, scores, method: str, k: int, seed: int, init: str, ranks: str):
    """The ``method``'s pick of ``k`` edges; with ``init = zero`` and equal ranks exactly claim 4's spec
    (same label, so the same run), otherwise the same edges with the other initialisation or ranks."""
    from adaptgraph.score import allocate_chosen, candidates, choose, to_spec

    strategy, metric = ("random", "rank") if method == "random" else ("gga", method.split("_", 1)[1])
    base = "random" if method == "random" else ("gga" if metric == "rank" else f"gga_{metric}")
    label = f"{base}_k{k}" + (f"_s{seed}" if method == "random" else "")
    if init == "zero" and ranks == "equal":
        return placements.chosen(s, scores, k, strategy, seed=seed, label=label, metric=metric)
    picks = choose(candidates(scores, metric=metric, rank=s.rank), k, strategy=strategy, seed=seed)
    per_edge = None
    if ranks == "allocated":
        per_edge = allocate_chosen(scores, [(c.src_index, c.dst_index) for c in picks], rank=s.rank).ranks
    label += f"_{init}_{ranks}"
    spec = to_spec(picks, rank=s.rank, name=label, backbone=scores.backbone, stream=scores.stream,
                   init=None if init == "zero" else init, ranks=per_edge)
    return placements.Placement(label, spec, tuple((c.src_index, c.dst_index) for c in picks),
                                tuple(c.kind for c in picks))


def compare(s: common.Settings, task: str, metric: str) -> list[dict]:
    """Train every job on ``task`` (finished runs are read back); one row per run."""
    todo = jobs(s, task, metric)
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.steps, test=True) for *_, p, seed in todo]
    outcomes = runstore.run_all(runs, s, f"beyond the paper {task}")
    return [{"task": task, "method": m, "init": i, "ranks": r, "k": k, "seed": seed, "steps": s.steps,
             **p.columns(), "edge_ranks": _edge_ranks(p.spec), **o.to_row()}
            for (m, i, r, k, p, seed), o in zip(todo, outcomes)]


def _scores(s: common.Settings, task: str):
    """Claim 4's scores, scored again when a cached file predates the kept spectra (allocation reads them)."""
    scores = placements.scores_for(s, task)
    if scores.spectra is None:
        scores = placements.score(s, task)
        scores.save(placements.scores_path(s, task))
    return scores


def _edge_ranks(spec) -> str:
    default = spec.defaults.rank
    return " ".join(str(e.options.rank or default) for e in spec.expanded())


def plot(s: common.Settings, rows: list[dict]):
    """Per task: test accuracy against k for every variant (mean and seed range), the baseline and the probe."""
    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(s.tasks), figsize=(5.5 * len(s.tasks), 4.4), squeeze=False)
    found = list(dict.fromkeys((r["method"], r["init"], r["ranks"]) for r in rows
                               if r["method"] not in ("baseline", "probe")))
    colours = {m: c for m, c in zip(dict.fromkeys(v[0] for v in found), ("tab:gray", "tab:green", "tab:blue"))}
    for ax, task in zip(axes[0], s.tasks):
        for n, (method, init, ranks) in enumerate(found):
            stats = [(k, spread(floats(where(rows, task=task, method=method, init=init, ranks=ranks, k=k),
                                       "test_acc"))) for k in s.ks]
            stats = [(k, st) for k, st in stats if st]
            if not stats:
                continue
            shift = 1 + 0.03 * (n - len(found) / 2)
            ax.errorbar([k * shift for k, _ in stats], [st.mean * 100 for _, st in stats],
                        yerr=[[(st.mean - st.lo) * 100 for _, st in stats], [(st.hi - st.mean) * 100 for _, st in stats]],
                        marker="o" if init == "zero" else "s", linestyle="-" if ranks == "equal" else ":", capsize=2,
                        color=colours[method], label=f"{method}, {init}, {ranks}")
        references_and_axes(ax, rows, task, s.ks, legend=6)
    fig.suptitle(f"Beyond the paper on {s.backbone} ({s.steps} steps, {len(s.seeds)} seeds)", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


if __name__ == "__main__":
    main()
