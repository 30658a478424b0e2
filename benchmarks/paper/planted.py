"""Planted placements (issue 22, item 3): can the scores, GGA and the multi-fidelity search find adapters whose
places are known?

For each k of --ks (default 4) and each of --draws planted draws (default 20):

1. draw k distinct edges uniformly from every candidate edge of the backbone's stream points, of all four
   kinds (sequential, parallel, long-range, recurrent: the searcher's extended space);
2. plant them: compile a spec with adapters there and give them non-zero weights (``down`` as compiled,
   ``up`` Gaussian with standard deviation --plant-scale / sqrt(rank));
3. the target is what the planted network outputs on the task's real glosses: the class a seeded random
   linear head assigns to what the planted adapters add to the backbone's pooled features (centred on the
   training split). So the backbone alone cannot read the classes off its own features, and adapters on the
   planted edges reproduce them exactly;
4. the student is the same backbone with zero-initialised adapters: one scoring pass (``score_edges``) on
   the planted task, and then
   * ``top_<metric>``: the k best edges by each score (rank, erank, fro, nuclear);
   * ``gga``: the greedy GGA pick of k edges (gradient rank, discount 0.6);
   * ``hyperband`` (with ``--methods ... hyperband``): the best spec of a multi-fidelity search with at most
     k adapters (``search(..., SearchConfig(strategy=Hyperband(...)))``, trials of --min-steps to --max-steps);
5. the control (with ``--methods ... trained``): does placement matter in the planted task at all? The student
   with zero-initialised adapters on the planted edges (``oracle``) and on k edges drawn at random (``random_k``,
   a second seeded draw), each trained for --steps steps from the same seed and tested (``test_acc``). Where
   the oracle does not train better than random edges, the planted answer cannot be told apart by training
   either, and a method blind to it says little about the scores.

One row per (k, draw, method): the planted and the picked edges, how many picks are planted (``hits``), their
fraction of k (``recovered``) and chance beside it (k / number of candidate edges: the expected fraction of
k uniform picks). Rule: ``verdicts.planted``, written before the run.

    python -m benchmarks.paper.planted --task 'wordnet:noun?per_class=20'              # scores and GGA
    python -m benchmarks.paper.planted --task 'wordnet:noun?per_class=20' --methods scores hyperband
    python -m benchmarks.paper.planted --task 'wordnet:noun?per_class=20' --methods trained --workers 1

Writes to --results: planted.csv and planted.meta.json; scores and searches are cached per draw under --runs,
and a rerun skips the (k, draw, method) rows its CSV already has.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import common
from .hyperband_flags import add_hyperband_flags, hyperband_of
from .verdicts import CONTROL_ARMS

EXPERIMENT = "planted"
KS = (4,)
TASK = "wordnet:noun?per_class=20"
METRICS = ("rank", "erank", "fro", "nuclear")
CLASSES = 10
# "scores": every top_<metric> and gga (one scoring pass); "hyperband": a search; "trained": the control arms
METHODS = ("scores", "hyperband", "trained")
COLUMNS = ("task", "backbone", "k", "draw", "method", "planted", "planted_kinds", "picked", "hits", "recovered",
           "chance", "percentile", "candidates", "effect", "largest_class", "search_steps", "train_steps", "val_acc",
           "test_acc", "seconds")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    args = flags().parse_args(argv)
    s = common.settings_from(args)
    given = common.arguments(argv)
    if "--ks" not in given:
        s = dataclasses.replace(s, ks=KS)
    if "--task" not in given:
        s = dataclasses.replace(s, tasks=(TASK,))
    path = s.results / f"{EXPERIMENT}.csv"
    rows = common.read_csv(path) if path.exists() else []
    done = {(r["task"], r["k"], r["draw"], r["method"]) for r in rows}
    for task in s.tasks:
        todo = [(k, d) for k in s.ks for d in range(s.draws)
                if any((task, str(k), str(d), m) not in done for m in methods(args.methods))]
        world = _World(s, task) if todo else None  # a finished task's rows are read back without the model
        for k, draw in todo:
            rows += planted_draw(s, world, k, draw, args, done)
            common.write_csv(path, rows, COLUMNS)
    plot(s, rows)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, methods=list(args.methods),
                      plant_scale=args.plant_scale, classes=CLASSES)


def flags():
    ap = common.parser(__doc__)
    group = ap.add_argument_group("planted placements")
    group.add_argument("--methods", nargs="+", choices=METHODS, default=["scores"],
                       help="scores: each score's top-k and GGA; hyperband: also a multi-fidelity search per draw; "
                            "trained: the control, the planted edges and k random ones trained as students")
    group.add_argument("--plant-scale", type=float, default=1.0,
                       help="standard deviation of the planted up-projection, times sqrt(rank) (default 1)")
    add_hyperband_flags(ap)
    return ap


class _World:
    """What every draw on one task shares: the backbone, its stream points and edges, the glosses and the
    backbone's own pooled features on them."""

    def __init__(self, s: common.Settings, task: str):
        from adaptgraph.backbones import get_backbone
        from adaptgraph.graph import trace_backbone
        from adaptgraph.graph import stream_points
        from adaptgraph.searcher import Budget, SearchSpace
        from adaptgraph.tasks import bind_task, load_task

        self.task = task
        self.bb = get_backbone(s.backbone)
        self.traced = trace_backbone(self.bb)
        self.space = SearchSpace.from_points(stream_points(self.traced), Budget(adapters=(1,), rank=s.rank),
                                             self.bb.ref)
        self.edges = self.space.edges()
        base = bind_task(load_task(task, 0), self.bb)
        self.splits = [[x for x, _ in base.examples(split)] for split in ("train", "validation", "test")]
        common.say(f"planted: {len(self.edges)} candidate edges on {s.backbone}; "
                   f"{sum(map(len, self.splits))} glosses of {task}")
        self.base_features = pooled(self.traced.gm, self.bb, self.texts, s)

    @property
    def texts(self) -> list[str]:
        return [x for split in self.splits for x in split]


def planted_draw(s: common.Settings, world: _World, k: int, draw: int, args, done: set) -> list[dict]:
    """The rows of one planted draw that the CSV does not have yet."""
    wanted = [m for m in methods(args.methods) if (world.task, str(k), str(draw), m) not in done]
    if not wanted:
        return []
    tic = time.perf_counter()
    rng = np.random.default_rng([k, draw])
    edges = draw_edges(world, k, rng)
    task, effect, largest = planted_task(s, world, edges, rng, args.plant_scale, f"k{k}_draw{draw}")
    common.say(f"planted k={k} draw {draw}: {' '.join(f'@{i}->@{j}' for i, j in edges)} "
               f"(feature change {effect:.2f}, largest class {largest:.2f})")
    base = {"task": world.task, "backbone": s.backbone, "k": k, "draw": draw, "planted": _text(edges),
            "planted_kinds": " ".join(world.space.kind(i, j) for i, j in edges), "chance": k / len(world.edges),
            "candidates": len(world.edges), "effect": effect, "largest_class": largest}
    picks: dict[str, tuple] = {}
    steps: dict[str, int] = {}
    percentile: dict[str, float] = {}
    if any(m != "hyperband" for m in wanted):
        scores = student_scores(s, world, task, _cache(s, world, k, draw, args.plant_scale) / "scores.json")
        picks.update(score_picks(s, scores, k))
        percentile.update({f"top_{m}": planted_percentile(world, scores, m, edges) for m in METRICS})
    if "hyperband" in wanted:
        picks["hyperband"], steps["hyperband"] = search_pick(s, world, task, k, args,
                                                             _cache(s, world, k, draw, args.plant_scale) / "hyperband")
    tested: dict[str, dict] = {}
    for m in (m for m in CONTROL_ARMS if m in wanted):
        picks[m] = edges if m == "oracle" else draw_edges(world, k, np.random.default_rng([k, draw, 1]))
        tested[m] = student_trained(s, world, task, picks[m], _cache(s, world, k, draw, args.plant_scale) / f"{m}.json")
    seconds = time.perf_counter() - tic
    planted = set(edges)
    return [{**base, "method": m, "picked": _text(picks[m]), "hits": len(planted & set(picks[m])),
             "recovered": len(planted & set(picks[m])) / k, "percentile": percentile.get(m),
             "search_steps": steps.get(m), **tested.get(m, {}), "seconds": seconds}
            for m in wanted]


def methods(chosen: Sequence[str]) -> list[str]:
    out = [f"top_{m}" for m in METRICS] + ["gga"] if "scores" in chosen else []
    return out + (["hyperband"] if "hyperband" in chosen else []) + (list(CONTROL_ARMS) if "trained" in chosen else [])


def draw_edges(world: _World, k: int, rng: np.random.Generator) -> tuple[tuple[int, int], ...]:
    """k distinct candidate edges, uniformly (every kind as likely as its share of the edges)."""
    picks = rng.choice(len(world.edges), size=k, replace=False)
    return tuple(sorted(world.edges[int(p)] for p in picks))


def planted_task(s: common.Settings, world: _World, edges, rng: np.random.Generator, scale: float, name: str):
    """The planted network's task: ``(task, relative feature change, largest class fraction)``."""
    import torch

    from adaptgraph import compile as compile_spec
    from adaptgraph.tasks import SplitTask

    genome = tuple(world.space.gene(i, j) for i, j in edges)
    model = compile_spec(world.space.to_spec(genome, f"planted_{name}"), world.bb, seed=int(rng.integers(2**31)))
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.requires_grad and pname.endswith("up.weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * scale / math.sqrt(p.shape[1]))
    model.eval()
    added = pooled(model, world.bb, world.texts, s) - world.base_features
    effect = float(added.norm(dim=1).mean() / world.base_features.norm(dim=1).mean())
    n_train = len(world.splits[0])
    added = added - added[:n_train].mean(0)
    head = torch.randn(CLASSES, added.shape[1], generator=gen, dtype=torch.float64)
    labels = (added @ head.T).argmax(1).tolist()
    splits, at = [], 0
    for texts in world.splits:
        splits.append(tuple(zip(texts, labels[at:at + len(texts)])))
        at += len(texts)
    largest = max(np.bincount(labels, minlength=CLASSES)) / len(labels)
    task = SplitTask(f"planted-{name}", tuple(f"c{c}" for c in range(CLASSES)), "text", tuple(splits))
    return task, effect, float(largest)


def pooled(model, bb, texts: Sequence[str], s: common.Settings):
    """Features of ``model`` on ``texts``, mean-pooled over real tokens, in order (float64 on the CPU)."""
    import torch

    from adaptgraph.searcher import threads_set
    from adaptgraph.tasks import make_loader

    loader = make_loader([(t, 0) for t in texts], bb, batch_size=64, max_length=s.max_length, shuffle=False)
    out = []
    with threads_set(s.threads), torch.no_grad():
        for batch in loader:
            f = model(*batch.inputs).double()
            if f.dim() == 3:
                mask = (batch.attention_mask if batch.attention_mask is not None
                        else torch.ones(f.shape[:2])).double().unsqueeze(-1)
                f = (f * mask).sum(1) / mask.sum(1)
            out.append(f.reshape(f.shape[0], -1))
    return torch.cat(out)


def student_scores(s: common.Settings, world: _World, task, cache: Path):
    """One scoring pass of the student (the backbone, zero adapters) on the planted task; read back when cached."""
    from adaptgraph.score import EdgeScores, ScoreConfig, score_edges

    if cache.exists():
        return EdgeScores.load(cache)
    config = ScoreConfig(batches=s.score_batches, max_length=s.max_length, head=s.score_head, seed=0, device=s.device)
    scores = score_edges(world.bb, task, config, progress=False, traced=world.traced)
    cache.parent.mkdir(parents=True, exist_ok=True)
    scores.save(cache)
    return scores


def planted_percentile(world: _World, scores, metric: str, edges) -> float:
    """The mean, over planted edges, of the fraction of the other candidate edges each one outscores (ties
    count half): 0.5 is what a score blind to placement gives on average, 1 puts every planted edge on top."""
    m = scores.matrix(metric)
    values = np.array([m[i, j] for i, j in world.edges])
    out = []
    for i, j in edges:
        v = m[i, j]
        out.append(((values < v).sum() + 0.5 * ((values == v).sum() - 1)) / (len(values) - 1))
    return float(np.mean(out))


def score_picks(s: common.Settings, scores, k: int) -> dict[str, tuple]:
    """Each score's top-k and the GGA pick."""
    from adaptgraph.score import candidates, choose

    out = {}
    for metric in METRICS:
        out[f"top_{metric}"] = _edges(choose(candidates(scores, metric=metric, rank=s.rank), k, strategy="topk"))
    out["gga"] = _edges(choose(candidates(scores, metric="rank", rank=s.rank), k, strategy="gga"))
    return out


def search_pick(s: common.Settings, world: _World, task, k: int, args, run_dir: Path) -> tuple[tuple, int]:
    """The best spec of a multi-fidelity search with at most k adapters, and the steps it spent."""
    from adaptgraph.searcher import Budget, SearchConfig, search
    from adaptgraph.train import TrainConfig

    train = TrainConfig(steps=s.steps, batch_size=s.batch_size, lr=s.lr, max_length=s.max_length, device=s.device)
    config = SearchConfig(strategy=hyperband_of(args), budget=Budget(adapters=(k,), rank=s.rank), train=train,
                          resume=(run_dir / "manifest.json").exists(), final="best", executor=common.executor(s),
                          threads=s.threads, plot=False)
    result = search(task, s.backbone, config, out=run_dir, progress=False)
    genome = world.space.from_spec(result.best_spec) or ()
    return tuple(sorted(g.edge for g in genome)), result.steps["search"]


def student_trained(s: common.Settings, world: _World, task, edges, cache: Path) -> dict:
    """The student with zero-initialised adapters on ``edges``, trained for ``s.steps`` steps (seed 0, the
    protocol's settings) and tested: ``{"train_steps", "val_acc", "test_acc"}``; read back when cached."""
    import json

    from adaptgraph import compile as compile_spec
    from adaptgraph.fileio import write_text_atomic
    from adaptgraph.searcher import threads_set
    from adaptgraph.train import TrainConfig, fit

    if cache.exists():
        return json.loads(cache.read_text())
    genome = tuple(world.space.gene(i, j) for i, j in edges)
    model = compile_spec(world.space.to_spec(genome, cache.stem), world.bb, seed=0)
    config = TrainConfig(steps=s.steps, batch_size=s.batch_size, lr=s.lr, max_length=s.max_length, device=s.device,
                         seed=0)
    with threads_set(s.threads):
        metrics = fit(model, world.bb, task, config, progress=False).metrics
    out = {"train_steps": metrics["steps"], "val_acc": metrics["validation"]["accuracy"],
           "test_acc": metrics["test"]["accuracy"]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cache, json.dumps(out) + "\n")
    return out


def plot(s: common.Settings, rows: list[dict]):
    """Per k: the mean fraction of planted edges each method recovered (bars: standard error over draws) and
    chance; with the control, beside it each draw's test accuracy of the oracle student against random edges."""
    from .analysis import floats, spread, where

    plt = common.pyplot()
    ks = sorted({int(r["k"]) for r in rows})
    control = any(r["method"] in CONTROL_ARMS for r in rows)
    fig, axes = plt.subplots(len(ks), 2 if control else 1, figsize=(11 if control else 6, 3.8 * len(ks)),
                             squeeze=False)
    for row, k in zip(axes, ks):
        ax = row[0]
        found = list(dict.fromkeys(r["method"] for r in rows if int(r["k"]) == k and r["method"] not in CONTROL_ARMS))
        stats = [spread(floats(where(rows, k=k, method=m), "recovered")) for m in found]
        ax.bar(range(len(found)), [100 * st.mean for st in stats],
               yerr=[100 * st.sd / max(st.n, 1) ** 0.5 for st in stats], color="tab:blue", capsize=3)
        chance = 100 * float(where(rows, k=k)[0]["chance"])
        ax.axhline(chance, color="tab:red", linestyle="--", label=f"chance ({chance:.1f}%)")
        ax.set_xticks(range(len(found)), found, rotation=20)
        ax.set_ylabel("planted edges recovered (%)")
        ax.set_title(f"k = {k}, {stats[0].n if stats else 0} planted draws", fontsize=9)
        ax.legend(fontsize=8)
        if control:
            _plot_control(row[1], rows, k)
    fig.suptitle(f"Planted placements on {s.backbone}", fontsize=10)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


def _plot_control(ax, rows: list[dict], k: int) -> None:
    """Each draw's test accuracy: the oracle student (x) against the random-edge student (y)."""
    from .analysis import where

    by_draw = {m: {r["draw"]: 100 * float(r["test_acc"]) for r in where(rows, k=k, method=m)} for m in CONTROL_ARMS}
    draws = sorted(set(by_draw["oracle"]) & set(by_draw["random_k"]), key=int)
    x, y = [by_draw["oracle"][d] for d in draws], [by_draw["random_k"][d] for d in draws]
    ax.scatter(x, y, color="tab:purple")
    lo, hi = min(x + y, default=0) - 2, max(x + y, default=100) + 2
    ax.plot([lo, hi], [lo, hi], color="gray", linestyle=":", label="equal")
    ax.set_xlabel("oracle student: adapters on the planted edges (test accuracy, %)")
    ax.set_ylabel("k random edges (test accuracy, %)")
    ax.set_title(f"Does placement matter here? k = {k}, {len(draws)} draws", fontsize=9)
    ax.legend(fontsize=8)


def _cache(s: common.Settings, world: _World, k: int, draw: int, scale: float) -> Path:
    """The draw's folder of cached scores and searches, named by everything that changes them."""
    import hashlib
    import json

    key = json.dumps([s.backbone, world.task, scale, s.rank, s.max_length, s.score_batches, s.score_head, s.steps,
                      s.batch_size, s.lr])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return s.runs / common.slug(world.task) / f"planted-{common.slug(s.backbone)}-{digest}" / f"k{k}-draw{draw}"


def _edges(chosen) -> tuple:
    return tuple(sorted((c.src_index, c.dst_index) for c in chosen))


def _text(edges) -> str:
    return " ".join(f"@{i}->@{j}" for i, j in edges)


if __name__ == "__main__":
    main()
