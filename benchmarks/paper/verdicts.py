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
