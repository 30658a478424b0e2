"""The rules that turn the protocol's CSV rows into a verdict per claim: holds, partly, or does not hold here.

Each rule is stated in ``RULES`` (the report prints it next to the verdict) and applied
to the numbers only; nothing here is tuned to a result. "Seed spread" is the range
(max - min) of a spec's test accuracy over its seeds: an effect counts when it is
larger than that.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .analysis import Spread, edge_values, floats, maps_correlation, ranked_edges, spread, top_share, where

HOLDS, PARTLY, NOT, UNMEASURED = "holds", "partly", "does not hold here", "not measured"

RULES = {
    1: "**Placement matters** on a task when the 3-seed mean test accuracy of its best single edge exceeds its "
       "worst edge's by more than the larger seed spread (max - min over seeds) of the two. **It depends on the "
       "task** when the two tasks' single-edge maps correlate weakly (Spearman rho < 0.5) and the maps carry "
       "signal (the standard deviation across edges exceeds the seed standard deviation at the sweep fidelity, "
       "on both tasks). Holds: both parts; partly: one (also when the second part cannot be tested, e.g. with "
       "one task); does not hold: neither.",
    2: "Per task: holds when the mean test accuracy of the random draws exceeds the baseline's mean by more than "
       "the baseline's seed spread; partly when it does not, but at least a quarter of the draws beat the "
       "baseline's best seed; otherwise it does not hold. Overall: holds if it holds on every task, does not "
       "hold if it holds on none and none is partly, else partly.",
    3: "Per task: holds when the numerical rank correlates with single-edge validation accuracy positively and "
       "with training loss negatively, both with p < 0.05; partly when only one of the two does; otherwise it "
       "does not hold. Overall as for claim 2.",
    4: "GGA with k adapters **matches** the baseline on a task when its mean test accuracy is at least the "
       "baseline's mean minus the larger seed spread of the two. Holds when some k <= 4 matches on every task; "
       "partly when only a larger k matches, or k <= 4 matches on some tasks only; otherwise it does not hold.",
}


@dataclass(frozen=True)
class Verdict:
    word: str
    why: str


def _seeded(s: Optional[Spread]) -> bool:
    """A spread measured over two seeds or more: one seed has no spread to compare an effect with."""
    return s is not None and s.n >= 2


def combine(per_task: Sequence[Verdict]) -> str:
    words = [v.word for v in per_task if v.word != UNMEASURED]
    if not words:
        return UNMEASURED
    if all(w == HOLDS for w in words):
        return HOLDS
    if all(w == NOT for w in words):
        return NOT
    return PARTLY


def pp(x: float) -> str:
    """A difference of accuracies in percentage points."""
    return f"{x * 100:+.1f} pp"


# -- claim 1 ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    edges: int
    best: dict
    worst: dict
    median: float
    edge_sd: float  # standard deviation of validation accuracy across edges (first seed)
    seed_sd: Optional[float]  # mean seed standard deviation of the re-seeded edges and probe at the fidelity


def sweep_of(rows: list[dict], task: str) -> Optional[Sweep]:
    edges = where(rows, task=task, role="edge")
    if not edges:
        return None
    ranked = ranked_edges(edges)
    acc = spread(floats(edges, "val_acc"))
    sds = [spread(floats(where(rows, task=task, role=role), "val_acc")) for role in ("best", "worst", "probe")]
    seed_sd = [s.sd for s in sds if s and s.n > 1]
    return Sweep(len(edges), ranked[0], ranked[-1], float(np.median(floats(edges, "val_acc"))), acc.sd,
                 sum(seed_sd) / len(seed_sd) if seed_sd else None)


def retrained(rows: list[dict], task: str) -> dict[str, Optional[Spread]]:
    return {role: spread(floats(where(rows, task=task, role=role), "test_acc")) for role in ("best", "worst", "probe")}


def claim1(sweep_rows: list[dict], retrain_rows: list[dict], tasks: Sequence[str]) -> Verdict:
    matters = []
    for task in tasks:
        r = retrained(retrain_rows, task)
        if not _seeded(r["best"]) or not _seeded(r["worst"]):
            continue
        gap, noise = r["best"].mean - r["worst"].mean, max(r["best"].range, r["worst"].range)
        matters.append((task, gap > noise, gap, noise))
    if not matters:
        return Verdict(UNMEASURED, "the best and worst edges were not retrained with two seeds or more")
    part_a = all(ok for _, ok, _, _ in matters)
    why = "; ".join(f"best - worst on {t}: {pp(g)} vs seed spread {noise * 100:.1f} pp" for t, _, g, noise in matters)
    part_b, why_b = _task_dependence(sweep_rows, tasks)
    why = f"{why}. {why_b}"
    if part_b is None:  # task dependence untested: at most half the claim
        return Verdict(PARTLY if part_a else NOT, why)
    return Verdict(HOLDS if part_a and part_b else PARTLY if part_a or part_b else NOT, why)


def _task_dependence(rows: list[dict], tasks: Sequence[str]) -> tuple[Optional[bool], str]:
    if len(tasks) < 2:
        return None, "Task dependence needs two tasks: not tested."
    a, b = (edge_values(where(rows, task=t, role="edge")) for t in tasks[:2])
    c = maps_correlation(a, b)
    sweeps = [sweep_of(rows, t) for t in tasks[:2]]
    if c is None or any(s is None or s.seed_sd is None for s in sweeps):
        return None, "Task dependence: too few edges or no re-seeded runs to judge."
    signal = all(s.edge_sd > s.seed_sd for s in sweeps)
    text = (f"Maps: Spearman rho {c.rho:.2f} (p {c.p:.2g}, {c.n} edges); sd across edges "
            + ", ".join(f"{s.edge_sd * 100:.1f}" for s in sweeps) + " pp vs seed sd "
            + ", ".join(f"{s.seed_sd * 100:.1f}" for s in sweeps) + " pp")
    return signal and c.rho < 0.5, text + ("" if signal else " (the maps do not rise above seed noise)") + "."


def best_elsewhere(rows: list[dict], tasks: Sequence[str]) -> list[tuple[str, str, Optional[float]]]:
    """For each task, its best edge and the share of the other task's edges that beat it there."""
    out = []
    if len(tasks) < 2:
        return out
    maps = {t: edge_values(where(rows, task=t, role="edge")) for t in tasks[:2]}
    for t, other in ((tasks[0], tasks[1]), (tasks[1], tasks[0])):
        s = sweep_of(rows, t)
        if s:
            edge = (int(s.best["src"]), int(s.best["dst"]))
            out.append((t, s.best["edges"], top_share(maps[other], edge)))
    return out


# -- claim 2 ---------------------------------------------------------------------------
def claim2_task(rows: list[dict], task: str) -> tuple[Verdict, Optional[Spread], Optional[Spread], float]:
    rand = spread(floats(where(rows, task=task, role="random"), "test_acc"))
    base = spread(floats(where(rows, task=task, role="baseline"), "test_acc"))
    if rand is None or not _seeded(base):
        return Verdict(UNMEASURED, f"{task}: not run, or the baseline has fewer than two seeds"), rand, base, 0.0
    above = sum(v > base.hi for v in floats(where(rows, task=task, role="random"), "test_acc")) / rand.n
    diff = rand.mean - base.mean
    why = (f"{task}: random mean - baseline mean {pp(diff)} vs baseline seed spread {base.range * 100:.1f} pp; "
           f"{above:.0%} of draws beat the baseline's best seed")
    word = HOLDS if diff > base.range else PARTLY if above >= 0.25 else NOT
    return Verdict(word, why), rand, base, above


# -- claim 3 ---------------------------------------------------------------------------
def claim3_task(correlations: list[dict], task: str) -> Verdict:
    acc = where(correlations, task=task, metric="rank", target="val_acc")
    loss = where(correlations, task=task, metric="rank", target="train_loss")
    if not acc or acc[0]["rho"] in ("", None):
        return Verdict(UNMEASURED, f"{task}: the rank is constant over the edges (saturated) or was not scored")
    ok_acc = float(acc[0]["rho"]) > 0 and float(acc[0]["p"]) < 0.05
    ok_loss = (bool(loss) and loss[0]["rho"] not in ("", None)
               and float(loss[0]["rho"]) < 0 and float(loss[0]["p"]) < 0.05)
    why = (f"{task}: rho(rank, val. acc.) {float(acc[0]['rho']):.2f} (p {float(acc[0]['p']):.2g}), "
           f"rho(rank, train loss) {rho_text(loss)}")
    return Verdict(HOLDS if ok_acc and ok_loss else PARTLY if ok_acc or ok_loss else NOT, why)


def rho_text(rows: list[dict]) -> str:
    if not rows or rows[0]["rho"] in ("", None):
        return "undefined"
    return f"{float(rows[0]['rho']):.2f} (p {float(rows[0]['p']):.2g})"


def strongest(correlations: list[dict], task: str, target: str = "val_acc") -> Optional[dict]:
    """The score with the largest |rho| against ``target`` on ``task``."""
    rows = [r for r in where(correlations, task=task, target=target) if r["rho"] not in ("", None)]
    return max(rows, key=lambda r: abs(float(r["rho"]))) if rows else None


# -- claim 4 ---------------------------------------------------------------------------
def method_spread(rows: list[dict], task: str, method: str, k=None) -> Optional[Spread]:
    match = {"task": task, "method": method} | ({"k": k} if k is not None else {})
    return spread(floats(where(rows, **match), "test_acc"))


def matches(rows: list[dict], task: str, k: int) -> Optional[bool]:
    g, b = method_spread(rows, task, "gga", k), method_spread(rows, task, "baseline")
    if g is None or not _seeded(b):
        return None
    return g.mean >= b.mean - max(g.range, b.range)


def claim4(rows: list[dict], tasks: Sequence[str], ks: Sequence[int]) -> Verdict:
    small = [k for k in ks if k <= 4]
    per_task = {t: {k: matches(rows, t, k) for k in ks} for t in tasks}
    if all(all(v is None for v in m.values()) for m in per_task.values()):
        return Verdict(UNMEASURED, "not run")
    smallest = {t: min((k for k, ok in m.items() if ok), default=None) for t, m in per_task.items()}
    why = "; ".join(f"{t}: smallest k that matches the baseline: {k if k is not None else 'none'}"
                    for t, k in smallest.items())
    if all(any(per_task[t].get(k) for k in small) for t in tasks):
        return Verdict(HOLDS, why)
    if any(k is not None for k in smallest.values()):
        return Verdict(PARTLY, why)
    return Verdict(NOT, why)


def gga_beats(rows: list[dict], task: str, other: str, ks: Sequence[int]) -> tuple[int, int]:
    """(k where GGA's mean beats ``other``'s by more than the larger seed spread, k compared)."""
    wins = compared = 0
    for k in ks:
        g, o = method_spread(rows, task, "gga", k), method_spread(rows, task, other, k)
        if g and o:
            compared += 1
            wins += g.mean - o.mean > max(g.range, o.range)
    return wins, compared


# -- planted placements (issue 22, item 3; written before any planted run) -------------
PLANTED_RULE = (
    "A method **sees placement** when the planted edges it picks, summed over the draws, are more than k uniform "
    "picks of the candidate edges would give with one-sided p < 0.01 (exact: the sum over draws of independent "
    "hypergeometric counts); it **recovers placement** when, in addition, its mean recovered fraction is at least "
    "one half. Otherwise it is **blind** to placement here. The scores can see placement at all when at least one "
    "of rank, erank, Frobenius and nuclear top-k sees it.")
SEES, RECOVERS, BLIND = "sees placement", "recovers placement", "blind"


def hits_p_value(hits: Sequence[int], k: int, candidates: int) -> float:
    """P(sum of one hypergeometric count per draw >= sum(hits)): k picks among ``candidates`` edges, k planted."""
    from math import comb

    pmf = np.array([comb(k, h) * comb(candidates - k, k - h) / comb(candidates, k) for h in range(k + 1)])
    total = np.array([1.0])
    for _ in hits:
        total = np.convolve(total, pmf)
    return float(min(1.0, total[int(sum(hits)):].sum()))


def planted(rows: Sequence[dict], method: str, k: int) -> Optional[Verdict]:
    """The planted rule for one method and k, or None without rows."""
    mine = where(rows, method=method, k=k)
    if not mine:
        return None
    hits = [int(r["hits"]) for r in mine]
    p = hits_p_value(hits, k, int(mine[0]["candidates"]))
    mean = float(np.mean([float(r["recovered"]) for r in mine]))
    chance = float(mine[0]["chance"])
    word = (RECOVERS if mean >= 0.5 else SEES) if p < 0.01 else BLIND
    return Verdict(word, f"{100 * mean:.1f}% of planted edges recovered against {100 * chance:.1f}% by chance "
                         f"over {len(mine)} draws, p = {p:.2g}")


# -- the planted control (issue 22, item 3; written before any control run) ----------------------
PLANTED_CONTROL_RULE = (
    "Placement **matters in the planted task** when the student with adapters on the planted edges (the oracle) "
    "tests better than the student with adapters on k random edges, both trained the same way, on more draws "
    "than it tests worse, with a one-sided exact sign test p < 0.01 (ties dropped). Otherwise **placement does "
    "not matter measurably here**: the planted answer cannot be told apart even by training, and a method "
    "blind to it says nothing about the scores.")
MATTERS, NO_MATTER = "placement matters", "placement does not matter measurably"
CONTROL_ARMS = ("oracle", "random_k")  # planted.py's trained students: on the planted edges, on k random ones


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: P(at least ``wins`` of ``wins + losses`` fair coin flips)."""
    from math import comb

    n = wins + losses
    return float(sum(comb(n, i) for i in range(wins, n + 1)) / 2 ** n) if n else 1.0


def planted_control(rows: Sequence[dict], k: int) -> Optional[Verdict]:
    """The control rule for one k: the oracle student against the random-edge student, paired by draw."""
    acc = {m: {r["draw"]: float(r["test_acc"]) for r in where(rows, method=m, k=k) if r.get("test_acc") not in
               (None, "")} for m in CONTROL_ARMS}
    draws = sorted(set(acc["oracle"]) & set(acc["random_k"]))
    if not draws:
        return None
    diffs = [acc["oracle"][d] - acc["random_k"][d] for d in draws]
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    p = sign_test_p(wins, losses)
    return Verdict(MATTERS if p < 0.01 else NO_MATTER,
                   f"the oracle tests better on {wins}, worse on {losses}, the same on {len(diffs) - wins - losses} "
                   f"of {len(draws)} draws (mean difference {100 * float(np.mean(diffs)):+.1f} points), "
                   f"sign test p = {p:.2g}")


# -- equal compute (issue 22, item 2; written before any equal-compute run) -----------------
REFERENCES = ("random_search", "random_k", "gga_rank", "baseline")
EQUAL_COMPUTE_RULES = {
    "cell": "A *cell* is (task, k, budget): k the most adapters a spec may have (4 or 8), the budget the search's "
            "training steps as a multiple of one baseline run (2x or 5x). Every method ends with one full-budget "
            "run of the spec it chose, which gives its test result; the search and random search spend the "
            "budget before it, random-k, rank-GGA and the baseline spend nothing before it (GGA one scoring pass).",
    "beats": "The search **beats** a reference in a cell when its mean test result over seeds (accuracy; "
             "perplexity, lower is better, on the language-model task) is better than the reference's by more "
             "than the larger seed spread (max - min over seeds) of the two; it **loses** when worse by more "
             "than that; otherwise it **ties**.",
    "verdict": "Against each reference: holds when the search beats it in at least half of the cells of every "
               "task; partly when it beats it in some cell; does not hold otherwise. The answer to \"does the "
               "multi-fidelity search beat random picks at equal compute?\" holds when it holds against both "
               "random search and random-k, partly when it is at least partly against either, and does not hold "
               "otherwise. Only when it holds does the search become the README main job's method.",
}


def result_of(row: dict) -> Optional[float]:
    """A run's test result, larger is better: accuracy, or minus perplexity on a language-model task."""
    if row.get("test_ppl") not in (None, ""):
        return -float(row["test_ppl"])
    return float(row["test_acc"]) if row.get("test_acc") not in (None, "") else None


def cell_outcome(rows: Sequence[dict], task: str, k: int, budget: int, reference: str) -> Optional[str]:
    """``beats``, ``ties`` or ``loses`` for the search against ``reference`` in one cell; None when unmeasured.
    References that spend no search budget (random-k, GGA, baseline) are matched on task and k only (the
    baseline on task only)."""
    def values(method, **match):
        return [v for v in (result_of(r) for r in where(rows, task=task, method=method, **match)) if v is not None]

    search = spread(values("hyperband", k=k, budget=budget))
    ref_match = {"random_search": {"k": k, "budget": budget}, "baseline": {}}.get(reference, {"k": k})
    other = spread(values(reference, **ref_match))
    if not _seeded(search) or not _seeded(other):
        return None
    margin = max(search.range, other.range)
    if search.mean - other.mean > margin:
        return "beats"
    return "loses" if other.mean - search.mean > margin else "ties"


def equal_compute(rows: Sequence[dict], tasks: Sequence[str], ks: Sequence[int], budgets: Sequence[int],
                  reference: str) -> Verdict:
    """The rule against one reference over every cell."""
    per_task = {t: [cell_outcome(rows, t, k, b, reference) for k in ks for b in budgets] for t in tasks}
    measured = {t: [o for o in outs if o is not None] for t, outs in per_task.items()}
    if not any(measured.values()):
        return Verdict(UNMEASURED, "not run")
    why = "; ".join(f"{t}: beats in {o.count('beats')}, ties in {o.count('ties')}, loses in {o.count('loses')} of "
                    f"{len(o)} cells" for t, o in measured.items())
    if all(o and o.count("beats") * 2 >= len(o) for o in measured.values()):
        return Verdict(HOLDS, why)
    return Verdict(PARTLY if any("beats" in o for o in measured.values()) else NOT, why)


def search_beats_random(verdicts: dict[str, Verdict]) -> str:
    """The headline answer from the verdicts against random search and random-k."""
    pair = [verdicts["random_search"].word, verdicts["random_k"].word]
    if UNMEASURED in pair:
        return UNMEASURED
    if all(w == HOLDS for w in pair):
        return HOLDS
    return PARTLY if any(w in (HOLDS, PARTLY) for w in pair) else NOT
