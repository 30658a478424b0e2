"""The "Planted placements" section of docs/results.md, from ``planted.csv`` only (issue 22, item 3).

Called by ``report.py``. Without the CSV it says the experiment has not been run and how to run it.
"""
from __future__ import annotations

from typing import Optional

from . import verdicts as v
from .analysis import floats, spread, where

EXPERIMENT = "planted"
TITLE = "## Planted placements: can the scores, GGA and the search find adapters whose places are known?"
QUESTION = ("On the real MiniLM, k adapters with non-zero weights are planted on edges drawn at random over all "
            "four kinds (long-range and recurrent included); the target is the class a seeded random head gives "
            "what they add to the pooled features of real WordNet glosses, and the student is the same backbone "
            "with zero-initialised adapters. Which fraction of the planted edges does each score's top-k, the GGA "
            "pick and the multi-fidelity search find? Where a method is blind here, \"no method beats random "
            "picks\" on the WordNet tasks says nothing about whether placement matters there; where it sees the "
            "planted edges, the scores can see placement at all. The control asks whether the planted answer can be "
            "told apart at all: the student with adapters on the planted edges against one with adapters on k "
            "random edges, both trained.")


def section(rows: Optional[list[dict]], provenance: str, figure: str, command: str) -> str:
    head = [TITLE, QUESTION]
    rule = f"*Rule (fixed before the runs):* {v.PLANTED_RULE}"
    control_rule = f"*Rule for the control (fixed before its runs):* {v.PLANTED_CONTROL_RULE}"
    if not rows:
        return "\n\n".join([*head, f"**Not run yet.** No `{EXPERIMENT}.csv` is committed. Run `{command}` "
                                   "(resumable), then the report.", rule])
    body = []
    trained = [r for r in rows if r["method"] in v.CONTROL_ARMS]
    for k in sorted({int(r["k"]) for r in rows}):
        mine = [r for r in where(rows, k=k) if r["method"] not in v.CONTROL_ARMS]
        methods = list(dict.fromkeys(r["method"] for r in mine))
        verdicts = {m: v.planted(rows, m, k) for m in methods}
        scores = [m for m in methods if m.startswith("top_")]
        sees = [m for m in scores if verdicts[m].word != v.BLIND]
        answer = (f"yes: {', '.join(sees)}" if sees else "no") if scores else "not measured"
        control_rows = where(trained, k=k)
        control = v.planted_control(control_rows, k)
        if scores and not sees and control is not None and control.word == v.NO_MATTER:
            answer = ("not answered here: they are blind, but so is training, since the student on the planted "
                      "edges tests no better than on random ones (the control below)")
        body += [f"**k = {k}, {len(where(mine, method=methods[0]))} planted draws: can the scores see placement "
                 f"at all? {answer}.**", _table(mine, methods, verdicts), *_unfinished(mine, methods), _kinds(mine),
                 *_control(control_rows, k, control)]
    return "\n\n".join([*head, *body, rule, *([control_rule] if trained else []), figure, provenance])


def _control(rows: list[dict], k: int, verdict: Optional[v.Verdict]) -> list[str]:
    """The control's verdict and each arm's test accuracy, when it ran."""
    if verdict is None:
        return []
    arms = {m: spread([100 * x for x in floats(where(rows, method=m), "test_acc")]) for m in v.CONTROL_ARMS}
    return [f"**Control, k = {k}: does placement matter in the planted task? {verdict.word}** ({verdict.why}). "
            f"Test accuracy after {rows[0]['train_steps']} training steps from zero adapters: oracle (the planted edges) "
            f"{arms['oracle'].mean:.1f}% ± {arms['oracle'].sd:.1f}, k random edges {arms['random_k'].mean:.1f}% ± "
            f"{arms['random_k'].sd:.1f} (mean ± sd over draws); the largest planted class holds "
            f"{100 * spread(floats(rows, 'largest_class')).mean:.0f}% of the glosses on average."]


def _table(rows: list[dict], methods: list[str], verdicts: dict) -> str:
    lines = ["| method | planted edges recovered | chance | planted edges' score percentile | verdict |",
             "|---|---|---|---|---|"]
    for m in methods:
        mine = where(rows, method=m)
        rec, pct = spread(floats(mine, "recovered")), spread(floats(mine, "percentile"))
        lines.append(f"| {m} | {100 * rec.mean:.1f}% ± {100 * rec.sd:.1f} | {100 * float(mine[0]['chance']):.1f}% | "
                     f"{f'{pct.mean:.2f} ± {pct.sd:.2f}' if pct else ''} | {verdicts[m].word} ({verdicts[m].why}) |")
    return "\n".join(lines) + ("\n\nRecovered: mean ± sd over draws. Percentile: the fraction of the other candidate "
                               "edges a planted edge outscores (0.5 for a score blind to placement).")


def _unfinished(rows: list[dict], methods: list[str]) -> list[str]:
    """A method with fewer draws than the others ran in part: its line is provisional, and says so."""
    draws = {m: len(where(rows, method=m)) for m in methods}
    most = max(draws.values())
    short = [f"{m} ({n} of {most} draws)" for m, n in draws.items() if n < most]
    return [f"*Provisional:* {', '.join(short)} ran on fewer draws than the others (an unfinished run); resume it "
            "to complete them."] if short else []


def _kinds(rows: list[dict]) -> str:
    drawn = [kind for r in where(rows, method=rows[0]["method"]) for kind in r["planted_kinds"].split()]
    counts = {kind: drawn.count(kind) for kind in dict.fromkeys(sorted(drawn))}
    effect = spread(floats(where(rows, method=rows[0]["method"]), "effect"))
    return (f"Planted edges by kind: {', '.join(f'{n} {kind}' for kind, n in counts.items())}; the planted adapters "
            f"change the pooled features by {100 * effect.mean:.0f}% of their norm on average.")
