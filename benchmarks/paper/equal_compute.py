"""Equal compute (issue 22, items 2 and 4): does the multi-fidelity search beat random picks at the same steps?

For each task, each k of --ks (the most adapters a spec may have; default 4 and 8) and each seed of --seeds
(default 0-4), with R = --steps (one baseline run; a multiple of 9, so that the search's rungs are R/9, R/3, R):

* ``hyperband``: ``search --strategy hyperband`` (GGA picks, mutations and random placements with at most k
  adapters, rungs R/9 to R, eta 3, promoted by training loss) with as many candidates as fit a budget of
  --budgets times R training steps (default 2 and 5), by the expected cost of successive halving;
* ``random_search``: whole random specs of k adapters, each trained for R steps, best by validation loss, as many
  as the search actually spent (its steps / R, rounded, at least 1): equal total steps;
* ``random_k`` (one random draw of k edges), ``gga_rank`` (the paper's GGA pick of k) and ``baseline`` (one
  parallel adapter per sub-layer: 12 on MiniLM), one run of R steps each;

each method's chosen spec trained once more for R steps and tested (the searches' final retraining). Tasks:
--task (default WordNet nouns and all supersenses) and, with --lm, causal language modelling on the New
Testament with a GPT-2 pretrained on the Old Testament (``benchmarks/lm_gga.py``'s model; tested by
perplexity). Rules: ``verdicts.EQUAL_COMPUTE_RULES``, written before any run.

    python -m benchmarks.paper.equal_compute --estimate     # two measured runs per task -> the plan's time
    python -m benchmarks.paper.equal_compute                # the 2-hour CPU size (resumable)
    benchmarks/paper/equal_compute_gpu.sh                   # larger, on a machine with a GPU

Writes to --results: equal_compute.csv (one row per method, task, k, budget and seed) and its meta file.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence

import numpy as np

from . import common, placements, runstore

EXPERIMENT = "equal_compute"
ESTIMATE = "equal_compute.estimate.json"  # what --estimate measured and projected
TASKS = ("wordnet:noun?per_class=40", "wordnet:all?per_class=20")
KS, BUDGETS, SEEDS, STEPS = (4, 8), (2, 5), (0, 1, 2, 3, 4), 63  # R = 63: about one epoch of the noun task
SEARCHES = ("hyperband", "random_search")
SCHEDULE = "parallel"  # the meta's name for how the units ran (see searches()); the report reads it
COLUMNS = ("task", "backbone", "method", "k", "budget", "seed", "search_steps", "final_steps", "trials",
           "adapters", "edges", "params", "val_loss", "test_acc", "test_loss", "test_ppl", "seconds", "device",
           "spec_hash")


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    args = flags().parse_args(argv)
    s = _settings(args, common.arguments(argv))
    tasks = [(t, s.backbone) for t in s.tasks] + ([lm_task(args, s)] if args.lm else [])
    if args.estimate:
        return estimate(s, args, tasks, argv)
    path = s.results / f"{EXPERIMENT}.csv"
    rows = common.read_csv(path) if path.exists() else []
    resumed, task_seconds = bool(rows), {}
    for task, backbone in tasks:
        tic = time.perf_counter()
        ts = dataclasses.replace(s, backbone=backbone)
        rows += one_run_methods(ts, task, rows)
        common.write_csv(path, _ordered(rows, tasks), COLUMNS)
        for row in searches(ts, args, task, rows):
            rows.append(row)
            common.write_csv(path, _ordered(rows, tasks), COLUMNS)
        task_seconds[task] = round(time.perf_counter() - tic, 1)
    plot(s, rows, [t for t, _ in tasks])
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, budgets=list(args.budgets), lm=args.lm,
                      tasks_and_backbones=tasks, schedule=SCHEDULE, resumed=resumed, task_wall_seconds=task_seconds)


def flags() -> argparse.ArgumentParser:
    ap = common.parser(__doc__)
    group = ap.add_argument_group("equal compute (the search's candidates and rungs follow from --steps and --budgets)")
    group.add_argument("--signal", default="train_loss", choices=("train_loss", "val_loss"),
                       help="what promotes a spec in the search (default %(default)s)")
    group.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS),
                       help="search budgets in baseline runs of --steps (default 2 5)")
    group.add_argument("--lm", action=argparse.BooleanOptionalAction, default=True,
                       help="also the causal-LM task (KJV, benchmarks/lm_gga.py; default on)")
    group.add_argument("--lm-work", type=Path, default=Path("runs/lm_gga"), help="its texts and pretrained model")
    group.add_argument("--lm-layers", type=int, default=4)
    group.add_argument("--lm-width", type=int, default=128)
    group.add_argument("--lm-pretrain-steps", type=int, default=600)
    group.add_argument("--estimate", action="store_true",
                       help="time one short and one full run per task and print the whole plan's wall time")
    return ap


def _settings(args, given: list[str]) -> common.Settings:
    s = common.settings_from(args)
    defaults = {"--ks": ("ks", KS), "--seeds": ("seeds", SEEDS), "--steps": ("steps", STEPS), "--task": ("tasks", TASKS)}
    for flag, (field, value) in defaults.items():
        if flag not in given:
            s = dataclasses.replace(s, **{field: value})
    if s.steps % 9:
        raise SystemExit(f"error: --steps must be a multiple of 9 (rungs R/9, R/3, R), got {s.steps}")
    return s


def lm_task(args, s: common.Settings) -> tuple[str, str]:
    """The causal-LM task and its pretrained ``hf:`` backbone (made once, as ``benchmarks/lm_gga.py`` makes it)."""
    from benchmarks import lm_gga

    ns = argparse.Namespace(work=args.lm_work, text=None, layers=args.lm_layers, width=args.lm_width, vocab=4096,
                            block=64, pretrain_steps=args.lm_pretrain_steps)
    args.lm_work.mkdir(parents=True, exist_ok=True)
    ot, nt = lm_gga._texts(ns)
    folder = lm_gga._pretrained(ns, ot)
    return f"lm:{nt}?block=64&split=80/10/10", f"hf:{folder}"  # relative to the repository root, as --lm-work


# -- the plan -------------------------------------------------------------------------------
def hyperband(s: common.Settings, args, budget: int):
    """The search's settings for ``budget`` baseline runs: the most candidates whose expected cost fits."""
    from adaptgraph.searcher import Hyperband

    base = dict(min_steps=s.steps // 9, max_steps=s.steps, eta=3, signal=args.signal)
    n = 1
    while expected_steps(Hyperband(candidates=n + 1, **base)) <= budget * s.steps:
        n += 1
    return Hyperband(candidates=n, **base)


def expected_steps(hb) -> int:
    """Steps of synchronous successive halving in each bracket (ASHA promotes a little more: the search
    records what it really spent)."""
    total = 0
    for b, n in enumerate(hb.bracket_sizes(hb.candidates)):
        for j, steps in enumerate(hb.rungs(b)):
            total += math.ceil(n / hb.eta ** j) * steps if n else 0
    return total


def one_run_methods(s: common.Settings, task: str, rows: list[dict]) -> list[dict]:
    """Random-k, GGA and the baseline of every seed that the CSV does not have yet, --workers runs at a time."""
    have = {(r["method"], r["k"], r["seed"]) for r in rows if r["task"] == task}
    singles = [(seed, m, k, p) for seed in s.seeds for k in s.ks for m, p in single_placements(s, task, k, seed)
               if (m, str(k), str(seed)) not in have]
    singles += [(seed, "baseline", "", placements.baseline(s)) for seed in s.seeds
                if ("baseline", "", str(seed)) not in have]
    runs = [runstore.make_run(s, task, p.spec, seed, steps=s.steps, test=True) for seed, *_, p in singles]
    runstore.run_all(runs, s, f"one-run methods {task}")
    return [{**_row(s, task, method, k, "", seed), **_tested(run.folder / runstore.OUTCOME),
             "search_steps": 0, "final_steps": s.steps, "trials": 1, **p.columns()}
            for (seed, method, k, p), run in zip(singles, runs)]


def searches(s: common.Settings, args, task: str, rows: list[dict]) -> Iterator[dict]:
    """Every (k, budget, seed) search pair the CSV does not have yet, as rows when each pair finishes.

    A pair is the hyperband search and then the random search that spends the steps it spent. Pairs are
    independent, so --workers of them run at once, each in its own process and each search's trials one at a
    time in that process: every core stays busy (a search's rungs alone rarely keep two workers busy), and a
    search does not depend on which of two workers finished first. The largest budgets go first, so that the
    last pairs to start are the short ones."""
    pairs = [(k, budget, seed) for budget in sorted(args.budgets, reverse=True) for seed in s.seeds for k in s.ks]
    done = {(r["method"], r["k"], r["budget"], r["seed"]) for r in rows if r["task"] == task}
    todo = []
    for k, budget, seed in pairs:
        methods = [m for m in SEARCHES if (m, str(k), str(budget), str(seed)) not in done]
        if methods:
            todo.append((k, budget, seed, _spent(rows, task, seed, k, budget), methods))
    if s.workers == 1 or len(todo) == 1:
        for pair in todo:
            yield from search_pair(s, args, task, *pair)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    spawn = multiprocessing.get_context("spawn")  # never a fork of a process that holds torch's threads
    with ProcessPoolExecutor(max_workers=min(s.workers, len(todo)), mp_context=spawn) as pool:
        futures = [pool.submit(search_pair, s, args, task, *pair) for pair in todo]
        for future in as_completed(futures):
            yield from future.result()


def search_pair(s: common.Settings, args, task: str, k: int, budget: int, seed: int, spent: Optional[int],
                methods: Sequence[str]) -> list[dict]:
    """The hyperband search of (k, budget, seed) and the random search at the steps it spent (``spent``: read
    from the CSV when the hyperband row is there already), each with its final retraining, as rows."""
    out = []
    for method in methods:
        row = searched(s, args, task, method, k, budget, seed, spent)
        spent = row["search_steps"] if method == "hyperband" else spent
        out.append(row)
    return out


def _ordered(rows: list[dict], tasks) -> list[dict]:
    """The CSV's rows in one order whatever order the searches finished in: task, seed, method, k, budget."""
    names = [t for t, _ in tasks]
    methods = ("random_k", "gga_rank", "baseline", *SEARCHES)

    def key(r):
        return (names.index(r["task"]) if r["task"] in names else len(names), int(r["seed"]),
                methods.index(r["method"]), int(r["k"] or 0), int(r["budget"] or 0))

    return sorted(rows, key=key)


def single_placements(s: common.Settings, task: str, k: int, seed: int):
    """``random_k`` (a seeded uniform draw of k edges, the searcher's ``random``) and ``gga_rank``."""
    from adaptgraph.searcher import RandomPlacement

    draw = placements.proposed(RandomPlacement(draws=1), placements.space(s, k), seed)[0]
    scores = placements.scores_for(s, task)
    return [("random_k", draw), ("gga_rank", placements.chosen(s, scores, k, "gga"))]


def searched(s: common.Settings, args, task: str, method: str, k: int, budget: int, seed: int,
             spent: Optional[int]) -> dict:
    """One search (resumed from its journal when it ran before) and its final retraining, as a row."""
    from adaptgraph.searcher import Budget, Fidelity, LocalExecution, RandomPlacement, SearchConfig, search
    from adaptgraph.train import TrainConfig

    if method == "hyperband":
        strategy, fidelity = hyperband(s, args, budget), None
    else:
        strategy, fidelity = RandomPlacement(draws=max(1, round((spent or budget * s.steps) / s.steps))), \
            Fidelity(steps=s.steps)
    run_dir = s.runs / common.slug(task) / f"{EXPERIMENT}-{common.slug(s.backbone)}-{s.steps}" / \
        f"{method}-k{k}-b{budget}-s{seed}"
    train = TrainConfig(steps=s.steps, batch_size=s.batch_size, lr=s.lr, max_length=s.max_length, device=s.device)
    tic = time.perf_counter()
    config = SearchConfig(strategy=strategy, budget=Budget(adapters=(k,), rank=s.rank), fidelity=fidelity,
                          train=train, seed=seed, final="best", resume=(run_dir / "journal.jsonl").exists(),
                          executor=LocalExecution(), threads=s.threads, plot=False, scoring=_scoring(s))
    result = search(task, s.backbone, config, out=run_dir, progress=False)
    best = result.best
    final = _final_record(run_dir, best.trial)
    common.say(f"  {method} k={k} {budget}x seed {seed}: {len(result.trials)} trials, {result.steps['search']} "
               f"steps; best {best.mutation}: test {final['test']}")
    return {**_row(s, task, method, k, budget, seed), "search_steps": result.steps["search"],
            "final_steps": result.steps["final"], "trials": len(result.trials), "adapters": best.adapters,
            "edges": " ".join(f"{e.src}->{e.dst}" for e in best.spec.expanded()), "params": best.params,
            "val_loss": final["val_loss"], **final["test"], "seconds": time.perf_counter() - tic,
            "device": final["device"], "spec_hash": best.hash[:12]}


def _scoring(s: common.Settings):
    from adaptgraph.searcher import Scoring

    return Scoring(batches=s.score_batches, max_length=s.max_length, head=s.score_head)


def _final_record(run_dir: Path, trial: int) -> dict:
    from adaptgraph.searcher import read_journal

    record = next(r for r in read_journal(run_dir / "journal.jsonl")
                  if r["event"] == "trial_finished" and r["stage"] == "final" and r["trial"] == trial)
    return {"val_loss": (record["metrics"]["validation"] or {}).get("loss"), "device": record.get("device"),
            "test": _test_columns(record["metrics"]["test"] or {})}


def _tested(outcome_file: Path) -> dict:
    data = json.loads(outcome_file.read_text())
    return {"val_loss": (data["metrics"]["validation"] or {}).get("loss"), "device": data.get("device"),
            "params": data.get("trainable_params"), "seconds": data.get("train_seconds"),
            **_test_columns(data["metrics"]["test"] or {})}


def _test_columns(test: dict) -> dict:
    return {"test_acc": test.get("accuracy"), "test_loss": test.get("loss"), "test_ppl": test.get("perplexity")}


def _row(s: common.Settings, task: str, method: str, k, budget, seed: int) -> dict:
    return {"task": task, "backbone": s.backbone, "method": method, "k": k, "budget": budget, "seed": seed}


def _spent(rows: list[dict], task: str, seed: int, k: int, budget: int) -> Optional[int]:
    done = [r for r in rows if (r["task"], r["seed"], r["k"], r["budget"], r["method"])
            == (task, str(seed), str(k), str(budget), "hyperband")]
    return int(done[0]["search_steps"]) if done else None


def plot(s: common.Settings, rows: list[dict], tasks: Sequence[str]):
    """Per task: each method's mean test result (accuracy in %, or perplexity) against the search budget, per k;
    the one-run methods as flat lines."""
    from .analysis import floats, spread, where
    from .verdicts import result_of

    plt = common.pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        mine = where(rows, task=task)
        lm = any(r.get("test_ppl") not in (None, "") for r in mine)

        def mean(runs):
            st = spread([abs(x) * (1 if lm else 100) for x in (result_of(r) for r in runs) if x is not None])
            return st.mean if st else np.nan

        budgets = sorted({int(r["budget"]) for r in mine if r["budget"] not in ("", None)})
        for k, style in zip(s.ks, ("-", "--", ":")):
            for method, colour in (("hyperband", "tab:blue"), ("random_search", "tab:gray")):
                ax.plot(budgets, [mean(where(mine, method=method, k=k, budget=b)) for b in budgets], style,
                        marker="o", color=colour, label=f"{method} k<={k}")
            for method, colour in (("random_k", "tab:orange"), ("gga_rank", "tab:green")):
                ax.axhline(mean(where(mine, method=method, k=k)), linestyle=style, color=colour,
                           label=f"{method} k={k} (one run)")
        ax.axhline(mean(where(mine, method="baseline")), color="black", label="baseline (one run)")
        ax.set_xlabel("search budget (baseline runs of training steps)")
        ax.set_ylabel("test perplexity" if lm else "test accuracy (%)")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return common.save_figure(fig, s.results / f"{EXPERIMENT}.png")


# -- sizing ---------------------------------------------------------------------------------
def estimate(s: common.Settings, args, tasks, argv) -> None:
    """Time a run of R/9 and one of R steps per task (the baseline spec) and one scoring pass, fit seconds =
    a + b * steps, and print the plan's runs, steps and projected wall time: every run and search pair --workers
    at a time (``searches()``), plus a scoring pass per search.

    The times are this process's CPU seconds (``time.process_time``), not wall seconds: on a shared machine
    the wall clock also counts other people's work, and a run uses one core (``--threads 1``), so on an
    otherwise idle machine a run's wall time is its CPU time."""
    from adaptgraph.searcher import LocalExecutor

    total, measured = 0.0, []
    for task, backbone in tasks:
        ts = dataclasses.replace(s, backbone=backbone)
        spec = placements.baseline(ts).spec
        times = []
        for steps in (s.steps // 9, s.steps):
            run = runstore.make_run(ts, task, spec, 0, steps=steps, test=True)
            tic = time.process_time()
            LocalExecutor().run([run.trial(0, s.threads)], lambda trained: None)
            times.append(time.process_time() - tic)
        tic = time.process_time()
        placements.score(ts, task)  # the search's own pass counts ranks only: this bounds it from above
        scoring = time.process_time() - tic
        per_step = (times[1] - times[0]) / (s.steps - s.steps // 9)
        if per_step <= 0:  # tiny runs, where timing noise exceeds the steps' cost: charge the long run to its steps
            per_step = times[1] / s.steps
        overhead = max(times[0] - per_step * (s.steps // 9), 0.0)
        p = plan(ts, args)
        seconds = (p.runs * overhead + p.steps * per_step + p.searches * scoring) / s.workers
        total += seconds
        measured.append({"task": task, "backbone": backbone, "overhead_s": round(overhead, 2),
                         "per_step_s": round(per_step, 4), "scoring_s": round(scoring, 2), "runs": p.runs,
                         "steps": p.steps, "searches": p.searches, "hours": round(seconds / 3600, 3)})
        common.say(f"{task}: {overhead:.1f} s per run + {per_step:.3f} s per step, {scoring:.1f} s per scoring "
                   f"pass (CPU seconds, measured); plan: {p.runs} runs, {p.steps:,} steps, {p.searches} scoring "
                   f"passes -> {seconds / 3600:.2f} h ({s.workers} at a time)")
    common.say(f"all tasks: {total / 3600:.2f} h")
    from adaptgraph.fileio import write_text_atomic

    doc = {"command": common.command(EXPERIMENT, argv), "workers": s.workers, "schedule": SCHEDULE,
           "tasks": measured, "hours": round(total / 3600, 3), "machine": common.machine(),
           "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    s.results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(s.results / ESTIMATE, json.dumps(doc, indent=2) + "\n")


class Plan(NamedTuple):
    runs: int
    steps: int
    searches: int  # hyperband searches, each with a scoring pass for its GGA candidates


def plan(s: common.Settings, args) -> Plan:
    """Runs and steps of one task: every seed, k and budget, searches at their expected cost plus one final run."""
    runs = steps = searches = 0
    for _ in s.seeds:
        runs, steps = runs + 1, steps + s.steps  # the baseline
        for _ in s.ks:
            runs, steps = runs + 2, steps + 2 * s.steps  # random-k, GGA
            for budget in args.budgets:
                hb = hyperband(s, args, budget)
                expected = expected_steps(hb)
                hb_trials = sum(math.ceil(n / 3 ** j) for b, n in enumerate(hb.bracket_sizes(hb.candidates))
                                for j in range(len(hb.rungs(b))))
                rs_trials = max(1, round(expected / s.steps))
                runs += hb_trials + rs_trials + 2
                steps += expected + rs_trials * s.steps + 2 * s.steps
                searches += 1
    return Plan(runs, steps, searches)


if __name__ == "__main__":
    main()
