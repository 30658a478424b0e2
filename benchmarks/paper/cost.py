"""Experiment 5: what GGA costs. Scoring against one training run, and the second pass of recurrent edges.

On the first task, in one process on --threads torch threads, measured back to back so
that both see the same machine load (wall-clock and CPU seconds, median of --repeats):
  * scoring: one ``score_edges`` pass (trace, probe head, --score-batches forward and
    backward passes, all spectra);
  * training: one training run of the 12-adapter baseline for --steps (seed 0);
  * forward: the time per forward pass (inference, a fixed batch of validation glosses)
    of the backbone alone, of each GGA pick of --ks, and of that pick without its
    recurrent edges: the difference is what the second pass costs.

    python -m benchmarks.paper.cost [flags]      # see --help; defaults: the real protocol

Writes to --results: cost.csv and cost.png. Resumable: measurements already in cost.csv
(made with the same settings) are kept; only missing ones are measured.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Optional, Sequence

from . import common, placements, runstore

EXPERIMENT = "cost"
COLUMNS = ("measure", "task", "label", "k", "adapters", "recurrent", "passes", "repeats", "wall_s", "cpu_s",
           "wall_min", "wall_max", "load1", "threads", "device")
FORWARD_BATCH = 32


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    task = s.tasks[0]
    rows = _previous(s)
    done = {(r["measure"], r["label"]) for r in rows}
    for measure, label, run in _measurements(s, task):
        if (measure, label) in done:
            continue
        common.say(f"timing {measure} {label}")
        rows.append({"measure": measure, "task": task, "label": label, "threads": s.threads, **run()})
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, COLUMNS)
    plot(s, rows)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, task=task)


def _previous(s: common.Settings) -> list[dict]:
    """Rows of an earlier run with the same settings (paths aside), else none."""
    meta, path = common.read_meta(s.results, EXPERIMENT), s.results / f"{EXPERIMENT}.csv"
    same = meta is not None and {k: v for k, v in meta["settings"].items() if k not in ("results", "runs", "doc")} == \
        {k: v for k, v in s.to_dict().items() if k not in ("results", "runs", "doc")}
    return common.read_csv(path) if same and path.exists() else []


def _measurements(s: common.Settings, task: str) -> list[tuple[str, str, Callable[[], dict]]]:
    """``(measure, label, measure it)`` for every timing, in the order they run."""
    base = placements.baseline(s)
    out = [("scoring", "score_edges", lambda: _timed(s, lambda: placements.score(s, task), {"passes": 1})),
           ("training", "baseline", lambda: _timed(s, lambda: _train(s, task, base), _describe(base, len(base.edges))))]
    scores = placements.scores_for(s, task)
    picks = [(placements.probe(s), 0)]
    for k in s.ks:
        full = placements.chosen(s, scores, k, "gga")
        picks.append((full, k))
        if "recurrent" in full.kinds:
            picks.append((placements.chosen(s, scores, k, "gga", keep=lambda kind: kind != "recurrent",
                                            label=f"{full.label}_no_recurrent"), k))
    for p, k in picks:
        out.append(("forward", p.label, lambda p=p, k=k: _forward(s, task, p, k)))
    return out


def _describe(p, k: int) -> dict:
    rec = sum(kind == "recurrent" for kind in p.kinds)
    return {"k": k, "adapters": len(p.edges), "recurrent": rec, "passes": 2 if rec else 1}


def _timed(s: common.Settings, fn: Callable[[], object], extra: dict, repeats: Optional[int] = None) -> dict:
    """Median wall and CPU seconds of ``fn`` over ``repeats`` calls, on ``s.threads`` torch threads."""
    import os

    from adaptgraph.searcher import threads_set

    walls, cpus, loads = [], [], []
    with threads_set(s.threads):
        for _ in range(repeats or s.repeats):
            loads.append(os.getloadavg()[0])
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return {**extra, "repeats": len(walls), "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "wall_min": min(walls), "wall_max": max(walls), "load1": statistics.mean(loads),
            "device": _device(s)}


def _train(s: common.Settings, task: str, p) -> None:
    """One tested training run (seed 0), as the protocol's runs train, kept nowhere: only its time matters here."""
    from adaptgraph.searcher import run_trial

    outcome = run_trial(runstore.make_run(s, task, p.spec, 0, steps=s.steps, test=True).trial(0, s.threads)).outcome
    if not outcome.ok:
        raise SystemExit(f"error: training {p.label} failed: {outcome.error}")


def _forward(s: common.Settings, task: str, p, k: int) -> dict:
    """Seconds per forward pass of ``p``'s compiled model on one batch of validation glosses."""
    import torch

    from adaptgraph import compile
    from adaptgraph.backbones import get_backbone
    from adaptgraph.tasks import load_task, make_loader

    bb = get_backbone(s.backbone)
    device = torch.device("cuda" if _device(s) == "cuda" else "cpu")
    model = compile(p.spec, bb, seed=0).to(device).eval()
    examples = load_task(task, 0).examples("validation")[:FORWARD_BATCH]
    batch = next(iter(make_loader(examples, bb, batch_size=FORWARD_BATCH, max_length=s.max_length,
                                  shuffle=False))).to(device)

    def forward() -> None:
        with torch.no_grad():
            for _ in range(5):  # five passes per timing: one is too short to time on its own
                model(*batch.inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()

    forward()  # warm-up
    timed = _timed(s, forward, _describe(p, k), repeats=max(3, s.repeats))
    for key in ("wall_s", "cpu_s", "wall_min", "wall_max"):
        timed[key] /= 5
    return timed


def _device(s: common.Settings) -> str:
    import torch

    return "cuda" if s.device.startswith("cuda") or (s.device == "auto" and torch.cuda.is_available()) else "cpu"


def plot(s: common.Settings, rows: list[dict]):
    """Left: scoring against one training run. Right: milliseconds per forward pass of each GGA pick."""
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 2]})
    main_rows = [r for r in rows if r["measure"] in ("scoring", "training")]
    x = range(len(main_rows))
    left.bar([i - 0.2 for i in x], [float(r["wall_s"]) for r in main_rows], width=0.4, label="wall")
    left.bar([i + 0.2 for i in x], [float(r["cpu_s"]) for r in main_rows], width=0.4, label="CPU")
    left.set_xticks(list(x), [f"{r['measure']}\n{r['label']}" for r in main_rows], fontsize=8)
    left.set_ylabel("seconds (median)")
    left.legend(fontsize=8)
    fwd = [r for r in rows if r["measure"] == "forward"]
    colours = ["tab:red" if int(r["recurrent"] or 0) else "tab:blue" for r in fwd]
    right.bar(range(len(fwd)), [float(r["wall_s"]) * 1000 for r in fwd], color=colours)
    right.set_xticks(range(len(fwd)), [r["label"].replace("_no_recurrent", "\nno rec.") for r in fwd], fontsize=7,
                     rotation=45)
    right.set_ylabel(f"ms per forward of {FORWARD_BATCH} glosses (red: 2 passes)")
    fig.suptitle(f"Cost on {s.backbone}, {s.threads} thread(s), device {_device(s)}", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


if __name__ == "__main__":
    main()
