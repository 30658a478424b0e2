"""The rules of "Beyond the paper" (issue 16, item 5), written before any of its runs.

Rows (``beyond.csv``, one per training run): ``task``, ``method`` (``random``, ``gga_rank``,
``gga_<metric>``, ``baseline``, ``probe``), ``init`` (``zero`` or ``grad``), ``ranks``
(``equal`` or ``allocated``), ``k``, ``seed``, ``test_acc``, ``params``. A *variant* is one
(method, init, ranks) triple. The reference is random picks as in claim 4: ``random``,
``zero``, ``equal``. "Seed spread" is max - min of test accuracy over seeds, as in the
paper's claims: an effect counts when it is larger than the larger spread of the two
things compared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from .analysis import Spread, floats, spread, where
from .verdicts import HOLDS, NOT, PARTLY, UNMEASURED, Verdict, pp

REFERENCE = ("random", "zero", "equal")

RULES = {
    "random": "A variant **beats random picks** at (task, k) when its mean test accuracy exceeds that of random-k "
              "(random edges, default initialisation, equal ranks; a new draw per seed) by more than the larger "
              "seed spread of the two. Per variant: holds when it beats random-k at two or more of the k on every "
              "task; partly when it beats it at some (task, k); otherwise it does not hold. The answer to \"does "
              "any automatic method beat random picks?\" is yes when some variant holds, partly when the best is "
              "partly, no otherwise.",
    "baseline": "A (variant, k) **matches the baseline** on a task when its mean test accuracy is at least the "
                "baseline's mean minus the larger seed spread of the two (claim 4's rule). Among those that match "
                "on every task, the one with the fewest trainable adapter parameters (mean over its runs and "
                "tasks) is named; ties list all.",
    "init": "**Gradient-aligned initialisation helps** a (method, ranks) pair at (task, k) when ``init = grad`` "
            "beats ``init = zero`` by more than the larger seed spread, and hurts when it is worse by more than "
            "that; otherwise it makes no measurable difference there.",
    "allocation": "**Allocated ranks help** a (method, init) pair at (task, k) when allocated ranks (same "
                  "parameter budget as k rank-r adapters) beat equal ranks by more than the larger seed spread, "
                  "and hurt when worse by more than that.",
}

Variant = tuple[str, str, str]


def runs(rows: Sequence[dict], task: str, variant: Variant, k: Optional[int] = None) -> list[dict]:
    method, init, ranks = variant
    match = {"task": task, "method": method, "init": init, "ranks": ranks}
    if k is not None:
        match["k"] = k
    return where(rows, **match)


def accuracy(rows: Sequence[dict], task: str, variant: Variant, k: Optional[int] = None) -> Optional[Spread]:
    return spread(floats(runs(rows, task, variant, k), "test_acc"))


def variants(rows: Sequence[dict]) -> list[Variant]:
    """Every variant in the rows except the baseline and the probe, in first-seen order."""
    seen = dict.fromkeys((r["method"], r["init"], r["ranks"]) for r in rows
                         if r["method"] not in ("baseline", "probe"))
    return list(seen)


def beats(a: Optional[Spread], b: Optional[Spread]) -> Optional[bool]:
    """``a`` above ``b`` by more than the larger seed spread; None when either lacks two seeds."""
    if a is None or b is None or a.n < 2 or b.n < 2:
        return None
    return a.mean - b.mean > max(a.range, b.range)


def difference(a: Optional[Spread], b: Optional[Spread]) -> Optional[int]:
    """+1 when ``a`` beats ``b``, -1 when ``b`` beats ``a``, 0 within the spread, None unmeasured."""
    up, down = beats(a, b), beats(b, a)
    if up is None:
        return None
    return 1 if up else -1 if down else 0


def versus_random(rows: Sequence[dict], variant: Variant, tasks: Sequence[str], ks: Sequence[int]) -> Verdict:
    wins = {t: [k for k in ks if beats(accuracy(rows, t, variant, k), accuracy(rows, t, REFERENCE, k))]
            for t in tasks}
    measured = [beats(accuracy(rows, t, variant, k), accuracy(rows, t, REFERENCE, k)) for t in tasks for k in ks]
    if all(m is None for m in measured):
        return Verdict(UNMEASURED, "not run")
    why = "; ".join(f"{t}: beats random-k at k = {', '.join(map(str, w)) or 'none'}" for t, w in wins.items())
    if all(len(w) >= 2 for w in wins.values()):
        return Verdict(HOLDS, why)
    return Verdict(PARTLY if any(wins.values()) else NOT, why)


def any_beats_random(rows: Sequence[dict], tasks: Sequence[str], ks: Sequence[int]) -> tuple[str, dict]:
    """("yes" | "partly" | "no" | "not measured", {variant: Verdict})."""
    per = {v: versus_random(rows, v, tasks, ks) for v in variants(rows) if v != REFERENCE}
    words = [v.word for v in per.values()]
    if not words or all(w == UNMEASURED for w in words):
        return UNMEASURED, per
    return ("yes" if HOLDS in words else "partly" if PARTLY in words else "no"), per


def matches_baseline(rows: Sequence[dict], task: str, variant: Variant, k: int) -> Optional[bool]:
    got = accuracy(rows, task, variant, k)
    base = spread(floats(where(rows, task=task, method="baseline"), "test_acc"))
    if got is None or base is None or got.n < 2 or base.n < 2:
        return None
    return got.mean >= base.mean - max(got.range, base.range)


def fewest_matching(rows: Sequence[dict], tasks: Sequence[str], ks: Sequence[int]) -> Verdict:
    """The (variant, k) with the fewest adapter parameters that matches the baseline on every task."""
    ok = []
    for v in variants(rows):
        for k in ks:
            if all(matches_baseline(rows, t, v, k) for t in tasks):
                params = floats([r for t in tasks for r in runs(rows, t, v, k)], "params")
                ok.append((sum(params) / len(params), v, k))
    if not ok:
        return Verdict(NOT, "no variant and k matches the baseline on every task")
    fewest = min(p for p, _, _ in ok)
    names = [f"{label(v)} at k = {k}" for p, v, k in ok if p == fewest]
    return Verdict(HOLDS, f"{' and '.join(names)} ({fewest:,.0f} adapter parameters)")


def effects(rows: Sequence[dict], tasks: Sequence[str], ks: Sequence[int], axis: str) -> dict[str, int]:
    """Counts of +1 / 0 / -1 over (task, k, pair) of switching ``axis`` (``init``: zero -> grad,
    ``ranks``: equal -> allocated) with the other two fields fixed."""
    before, after = {"init": ("zero", "grad"), "ranks": ("equal", "allocated")}[axis]
    counts = {"better": 0, "same": 0, "worse": 0}
    for v in variants(rows):
        if v[1 if axis == "init" else 2] != before:
            continue
        w = (v[0], after, v[2]) if axis == "init" else (v[0], v[1], after)
        for t in tasks:
            for k in ks:
                d = difference(accuracy(rows, t, w, k), accuracy(rows, t, v, k))
                if d is not None:
                    counts[{1: "better", 0: "same", -1: "worse"}[d]] += 1
    return counts


def label(v: Variant) -> str:
    method, init, ranks = v
    return f"{method} ({'gradient-aligned' if init == 'grad' else 'default'} init, {ranks} ranks)"


__all__ = ["REFERENCE", "RULES", "any_beats_random", "effects", "fewest_matching", "label", "matches_baseline",
           "pp", "versus_random"]
