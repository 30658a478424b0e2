"""The equal-compute section of docs/results.md, from ``equal_compute.csv`` only (issue 22, items 2 and 4).

Called by ``report.py``. Without the CSV it says the comparison has not been run, how to run it and how long
it takes; it never shows a number that is not in the CSV.
"""
from __future__ import annotations

from typing import Optional

from . import verdicts as v
from .equal_compute import STEPS
from .analysis import floats, spread, where

EXPERIMENT = "equal_compute"
EARLIER = "equal_compute_r90"  # the same plan at R = 90 steps, run before the default became R = 63
WORKERS = 2  # the default --workers: one-run methods ran this many at a time
RESUME = "python -m benchmarks.paper.equal_compute"
PLANNED_UNITS = 3 * 5  # the default plan's (task, seed) units: WordNet nouns, all supersenses, the LM; 5 seeds
TITLE = "## The multi-fidelity search against random picks at equal compute"
QUESTION = ("Does `search --strategy hyperband` (many candidates trained briefly, the best by training loss "
            "promoted to more steps) find better placements than random picks when both spend the same training "
            "steps? Compared, at budgets of 2x and 5x one baseline run and at most k = 4 and 8 adapters: random "
            "search (whole random specs trained in full until the search's steps are spent, best by validation), "
            "a single random-k draw, the paper's rank-GGA and the every-sub-layer baseline (12 adapters on "
            "MiniLM), over 5 seeds, on WordNet nouns, all WordNet supersenses and causal language modelling "
            "(perplexity).")
SIZING = (f"Sizing: the plan is sized for about 2 hours on 2 CPU cores: R = {STEPS} steps (rungs {STEPS // 9}, "
          f"{STEPS // 3} and {STEPS}; about one epoch of the noun task), down from 90 (the paragraph at the end). "
          "`python -m benchmarks.paper.equal_compute "
          "--estimate` times one run of R/9 and one of R steps per task and one scoring pass, fits seconds = "
          "overhead + per-step time x steps, and multiplies by the plan's runs, steps and searches (searches at the "
          "expected cost of successive halving), --workers at a time: the one-run methods of all seeds run on "
          "--workers processes, then --workers (k, budget, seed) search pairs at once, each search's trials one "
          "at a time in its own process. The estimate times the baseline spec, whose adapters are all parallel; "
          "drawn and searched specs with recurrent edges run part of the network twice, so it is a lower bound. "
          "`benchmarks/paper/equal_compute_gpu.sh` runs the larger version on a machine with a GPU.")


def section(rows: Optional[list[dict]], provenance: str, figure: str, command: str,
            estimate: Optional[dict] = None, meta: Optional[dict] = None,
            earlier: Optional[tuple[list[dict], dict]] = None) -> str:
    """``meta``: the finished run's meta file (None: the run is unfinished, and its rows give tables, no
    verdict); ``earlier``: the rows and meta of the same plan at another R, summed up in one paragraph."""
    head = [TITLE, QUESTION]
    sizing = SIZING + (" " + _estimate(estimate) if estimate else "")
    rules = "*Rules (fixed before the runs):*\n\n" + "\n".join(f"- {t}" for t in v.EQUAL_COMPUTE_RULES.values())
    other = [_earlier(*earlier)] if earlier else []
    if not rows:
        return "\n\n".join([*head, f"**Not run yet.** No `{EXPERIMENT}.csv` is committed, so there are no numbers "
                                   f"and no verdicts here. Run `{command}` (resumable), then the report.",
                            sizing, rules, *other])
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    ks = sorted({int(r["k"]) for r in rows if r["k"]})
    budgets = sorted({int(r["budget"]) for r in rows if r["budget"]})
    tables = [_table(rows, task, ks, budgets) for task in tasks]
    if meta is None:
        units = sorted({(r["task"], r["seed"]) for r in rows})
        done = "; ".join(f"{t}: seeds {', '.join(sorted({s for u, s in units if u == t}))}" for t in tasks)
        body = [f"**Not answered yet: the run is unfinished.** So far it has measured {len(units)} (task, seed) "
                f"units of the plan ({done}); no verdict is drawn from an unfinished run, and the tables below are "
                f"provisional. Resume it with `{RESUME}` (the default plan; it skips every (task, seed) the CSV "
                f"has and continues unfinished searches from their journals).", rules, *tables,
                sizing + " " + _pace(rows, units), *other]
        return "\n\n".join([*head, *body])  # the figure and the provenance are written when the run finishes
    answer, per = _verdicts(rows)
    body = [f"**Does the multi-fidelity search beat random picks at equal compute? {answer}.**",
            "\n".join(f"- against {ref.replace('_', ' ')}: {verdict.word} ({verdict.why})" for ref, verdict in per.items()),
            rules, *tables, sizing + " " + _measured(rows, estimate, meta), *other]
    return "\n\n".join([*head, *body, figure, provenance])


def _verdicts(rows: list[dict]) -> tuple[str, dict[str, v.Verdict]]:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    ks = sorted({int(r["k"]) for r in rows if r["k"]})
    budgets = sorted({int(r["budget"]) for r in rows if r["budget"]})
    per = {ref: v.equal_compute(rows, tasks, ks, budgets, ref) for ref in v.REFERENCES}
    return v.search_beats_random(per), per


def _earlier(rows: list[dict], meta: dict) -> str:
    """The same comparison at another size, from its own CSV and meta: its verdicts and what it took."""
    answer, per = _verdicts(rows)
    steps = meta["settings"]["steps"]
    against = "; ".join(f"against {ref.replace('_', ' ')}: {verdict.word}" for ref, verdict in per.items())
    return (f"**The same comparison at R = {steps} steps** (`{EARLIER}.csv`, run to {meta['finished_at']} with the "
            f"rules above, before the default became R = {STEPS}; its searches ran one at a time, each on 2 worker "
            f"processes): {answer.lower()} ({against}). It took {_measured_hours(rows, meta):.1f} h of wall time here.")


def _hours(rows: list[dict], parallel: bool = True) -> float:
    """The wall time ``rows`` took, from their seconds: a search row holds its search's and final run's wall
    seconds, a one-run method's row its run's. The one-run methods ran ``WORKERS`` at a time, and so did the
    search pairs where ``parallel`` (the schedule since the meta records one; before it, one at a time)."""
    searches = sum(float(r["seconds"]) for r in rows if r.get("budget") and r.get("seconds"))
    singles = sum(float(r["seconds"]) for r in rows if not r.get("budget") and r.get("seconds"))
    return (searches / (WORKERS if parallel else 1) + singles / WORKERS) / 3600


def _pace(rows: list[dict], units: list) -> str:
    """An unfinished run: the wall time its units took, and the plan's at that pace."""
    hours = _hours(rows)
    per_unit = 60 * hours / max(1, len(units))
    return (f"**Measured so far:** {len(units)} (task, seed) units in about {hours:.1f} h of wall time "
            f"({per_unit:.0f} min per unit, on the 2 cores while they also ran other work), so the "
            f"{PLANNED_UNITS} units of the default plan would take about {PLANNED_UNITS * per_unit / 60:.0f} h at "
            f"that pace (the estimate above counts CPU seconds, not other work sharing the cores).")


def _clock(meta: dict) -> Optional[dict]:
    """Each task's wall seconds, where the run went from start to end in one go with the parallel schedule."""
    return meta.get("task_wall_seconds") if meta.get("schedule") and not meta.get("resumed") else None


def _task_hours(rows: list[dict], meta: dict, task: str) -> float:
    clock = _clock(meta)
    mine = where(rows, task=task)
    return clock[task] / 3600 if clock and task in clock else _hours(mine, parallel=bool(meta.get("schedule")))


def _measured_hours(rows: list[dict], meta: dict) -> float:
    return sum(_task_hours(rows, meta, t) for t in dict.fromkeys(r["task"] for r in rows))


def _measured(rows: list[dict], estimate: Optional[dict], meta: dict) -> str:
    """A finished run: the wall time each task took against the 2 hours it was sized for (and against the
    estimate's hours for the task, where the estimate has it): each task's wall clock where the meta has it
    (``_clock``), else the rows' seconds summed."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    estimated = {t["task"]: t["hours"] for t in (estimate or {}).get("tasks", [])}
    parts, total = [], 0.0
    for task in tasks:
        hours, units = _task_hours(rows, meta, task), len({r["seed"] for r in where(rows, task=task)})
        total += hours
        against = f"; estimated {estimated[task]:.2f} h" if task in estimated else ""
        parts.append(f"{task}: {hours:.2f} h for {units} seeds ({60 * hours / max(1, units):.0f} min per seed"
                     f"{against})")
    verdict = "about the 2 hours it was sized for" if total <= 2.5 else \
        f"**{total / 2:.1f} times the 2 hours it was sized for**"
    if _clock(meta):
        how = (f"The run went from start to end in one command (`{meta['command']}`, finished "
               f"{meta['finished_at']}, 1-minute load average {meta['machine']['load_average'][0]:.1f} at its end); "
               "the hours are each task's wall clock.")
    else:
        how = ("The run was resumed, so the hours come from the rows' seconds, and a unit's time also counts the "
               "load of whatever else ran beside it.")
    return (f"**Measured:** the whole plan took about {total:.1f} h of wall time here ({'; '.join(parts)}), "
            f"{verdict}. {how}")


def _estimate(e: dict) -> str:
    """What ``--estimate`` measured, as a sentence with its command."""
    m = e["machine"]
    at = (f"({e['workers']} runs or search pairs at a time)" if e.get("schedule") else
          f"(one-run methods {e['workers']} at a time, searches one at a time)")
    parts = [f"{t['task']}: {t['overhead_s']:.1f} s per run + {t['per_step_s']:.3f} s per step"
             + (f" + {t['scoring_s']:.1f} s per scoring pass" if "scoring_s" in t else "")
             + f", {t['runs']} runs and {t['steps']:,} steps, {t['hours']:.2f} h" for t in e["tasks"]]
    return (f"Measured by `{e['command']}` ({m['cpus']} CPU cores, load average "
            f"{', '.join(f'{x:.1f}' for x in m['load_average'])}; CPU seconds of one run at a time, so other "
            f"people's load does not count; {e['finished_at']}): " + "; ".join(parts) +
            f"; **{e['hours']:.2f} h in all {at}**" + ("." if "scoring_s" in e["tasks"][0] else
                                                        ", plus one scoring pass per search."))


def _table(rows: list[dict], task: str, ks, budgets) -> str:
    mine = where(rows, task=task)
    lm = any(r.get("test_ppl") for r in mine)
    key, what = ("test_ppl", "test perplexity") if lm else ("test_acc", "test accuracy")
    scale = 1.0 if lm else 100.0
    lines = [f"**{task}** ({what}, mean ± sd over seeds; search steps in brackets):", "",
             "| method | budget | " + " | ".join(f"k = {k}" for k in ks) + " |", "|---|---|" + "---|" * len(ks)]
    for method in ("hyperband", "random_search"):
        for b in budgets:
            cells = []
            for k in ks:
                runs = where(mine, method=method, k=k, budget=b)
                st, steps = spread(floats(runs, key)), spread(floats(runs, "search_steps"))
                cells.append(f"{scale * st.mean:.2f} ± {scale * st.sd:.2f} ({steps.mean:.0f})" if st else "")
            lines.append(f"| {method} | {b}x | " + " | ".join(cells) + " |")
    for method in ("random_k", "gga_rank"):
        cells = [spread(floats(where(mine, method=method, k=k), key)) for k in ks]
        lines.append(f"| {method} | one run | " + " | ".join(
            f"{scale * c.mean:.2f} ± {scale * c.sd:.2f}" if c else "" for c in cells) + " |")
    base = spread(floats(where(mine, method="baseline"), key))
    if base:
        lines += ["", f"Baseline (one parallel adapter per sub-layer, one run): {scale * base.mean:.2f} ± "
                      f"{scale * base.sd:.2f}."]
    return "\n".join(lines)
