"""The "Beyond the paper" section of docs/results.md, from ``beyond.csv`` only (issue 16, item 5).

Called by ``report.py``. Without the CSV it says that the comparison has not been run and how
to run it; it never shows a number that is not in the CSV.
"""
from __future__ import annotations

from typing import Optional, Sequence

from . import beyond_verdicts as b
from .analysis import floats, spread, where

EXPERIMENT = "beyond"
TITLE = "## Beyond the paper: gradient-aligned initialisation, allocated ranks, other scores"
QUESTION = ("Does any automatic placement beat random picks by more than the seed spread, and which matches the "
            "12-adapter baseline with the fewest parameters? Each method (random-k, GGA on gradient rank, GGA on "
            "the score that best predicted the reproducible training-loss map) is trained with the default and "
            "with gradient-aligned initialisation (`init = grad`), and with equal ranks and with ranks allocated "
            "from the gradient spectra under the same parameter budget.")


def section(rows: Optional[list[dict]], provenance: str, figure: str, command: str) -> str:
    """The whole section as Markdown."""
    head = [TITLE, QUESTION]
    if not rows:
        return "\n\n".join([*head, f"**Not run yet.** No `{EXPERIMENT}.csv` is committed, so there are no numbers "
                                   f"and no verdicts here. Run `{command}` (resumable), then the report.",
                            _rules()])
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    ks = sorted({int(r["k"]) for r in rows if r["method"] not in ("baseline", "probe")})
    answer, per = b.any_beats_random(rows, tasks, ks)
    fewest = b.fewest_matching(rows, tasks, ks)
    body = [f"**Does any automatic method beat random picks by more than the seed spread? {answer}.**",
            "\n".join(f"- {b.label(v)}: {verdict.word} ({verdict.why})" for v, verdict in per.items()),
            f"**Fewest parameters that match the baseline:** {fewest.why}.",
            _effects(rows, tasks, ks), _rules()]
    body += [_task_table(rows, task, ks) for task in tasks]
    return "\n\n".join([*head, *body, figure, provenance])


def _rules() -> str:
    return "*Rules (fixed before the runs):*\n\n" + "\n".join(f"- {text}" for text in b.RULES.values())


def _effects(rows: list[dict], tasks: Sequence[str], ks: Sequence[int]) -> str:
    init, ranks = b.effects(rows, tasks, ks, "init"), b.effects(rows, tasks, ks, "ranks")

    def words(c):
        return f"better at {c['better']}, no measurable difference at {c['same']}, worse at {c['worse']}"

    return (f"Gradient-aligned instead of default initialisation (same method, ranks, task and k): {words(init)}. "
            f"Allocated instead of equal ranks: {words(ranks)}.")


def _task_table(rows: list[dict], task: str, ks: Sequence[int]) -> str:
    lines = [f"**{task}** (test accuracy, mean ± sd (min-max, n) over seeds):", "",
             "| method | init | ranks | " + " | ".join(f"k = {k}" for k in ks) + " |",
             "|---|---|---|" + "---|" * len(ks)]
    for v in b.variants(rows):
        cells = [(b.accuracy(rows, task, v, k) or None) for k in ks]
        lines.append(f"| {v[0]} | {v[1]} | {v[2]} | " + " | ".join(c.text() if c else "" for c in cells) + " |")
    refs = [(name, spread(floats(where(rows, task=task, method=method), "test_acc")))
            for method, name in (("baseline", "baseline (one parallel adapter per sub-layer)"),
                                 ("probe", "linear probe"))]
    lines += ["", "; ".join(f"{name}: {st.text()}" for name, st in refs if st) or "(no baseline or probe runs)"]
    return "\n".join(lines)
