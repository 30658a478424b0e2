"""The files a search leaves in its run folder, each written atomically.

* ``best.adapt``: the best spec, with a comment saying how it was found and how it did;
* ``pareto.csv``: every successful trial's validation accuracy (and, for the ones
  retrained at full budget, final validation and test accuracy) against its
  trainable parameters, with its place on the Pareto front;
* ``summary.json``: the ``SearchResult`` as data (rewritten after every round);
* ``progress.png``: best accuracy against trials, and the Pareto front;
* ``best.png``: the best spec's placement (``adaptgraph plot``), over the score heat map when the
  search scored the edges.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

from ..fileio import write_text_atomic
from .journal import finite
from .result import SearchResult

BEST, PARETO, SUMMARY, PLOT = "best.adapt", "pareto.csv", "summary.json", "progress.png"
BEST_PLOT, SCORES = "best.png", "scores.json"
PARETO_COLUMNS = ("trial", "name", "trainable_params", "adapters", "validation_accuracy",
                  "final_validation_accuracy", "test_accuracy", "on_front", "best", "within_budget", "mutation", "hash")


def write_summary(run_dir: Optional[Path], result: SearchResult, status: str, settings: dict) -> None:
    """``summary.json``: the result so far, the run's status (``running`` or ``finished``) and its settings."""
    if run_dir is None:
        return
    doc = {"status": status, **result.to_dict(), "settings": settings}
    write_text_atomic(Path(run_dir) / SUMMARY, json.dumps(finite(doc), indent=1) + "\n")


def write_outputs(run_dir: Optional[Path], result: SearchResult, plot: bool = True, backbone=None) -> list[Path]:
    """``best.adapt``, ``pareto.csv`` and (with matplotlib) ``progress.png`` and, given the searched
    ``backbone``, ``best.png``; returns the paths written."""
    if run_dir is None:
        return []
    run_dir = Path(run_dir)
    written = []
    if result.best is not None:
        write_text_atomic(run_dir / BEST, best_text(result))
        written.append(run_dir / BEST)
    write_text_atomic(run_dir / PARETO, pareto_csv(result))
    written.append(run_dir / PARETO)
    if plot:
        from .plot import draw_progress

        written += [p for p in [draw_progress(result, run_dir / PLOT)] if p is not None]
        if backbone is not None:
            written += [p for p in [draw_best(run_dir, result, backbone)] if p is not None]
    return written


def draw_best(run_dir: Path, result: SearchResult, backbone) -> Optional[Path]:
    """``best.png``: the best spec's placement, over the search's scores if it has them; None (nothing
    written) without a best spec or without matplotlib, as for ``progress.png``."""
    import importlib.util

    if result.best is None or importlib.util.find_spec("matplotlib") is None:
        return None
    from ..plot import plot_spec

    scores = run_dir / SCORES
    return plot_spec(result.best.spec, backbone, run_dir / BEST_PLOT, scores=scores if scores.exists() else None)


def best_text(result: SearchResult) -> str:
    """The best spec's canonical text under a comment header (a comment changes nothing in the spec)."""
    b = result.best
    lines = [f"# found by `adaptgraph search` ({result.strategy}): trial {b.trial}, {b.mutation}",
             f"# {b.params:,} trainable adapter parameters; validation accuracy {_pct(b.validation_accuracy)} "
             "at the search fidelity"]
    if b.final_status == "ok":
        lines.append(f"# retrained at full budget: validation {_pct(b.final_validation_accuracy)}, "
                     f"test {_pct(b.test_accuracy)}")
    elif b.final_status:
        lines.append("# retraining at full budget failed; see the journal")
    return "\n".join(lines) + "\n" + b.spec_text


def pareto_csv(result: SearchResult) -> str:
    """One row per successful trial, by trainable parameters."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PARETO_COLUMNS)
    best = result.best.trial if result.best else None
    for t in sorted((t for t in result.trials if t.status == "ok"), key=lambda t: (t.params, t.trial)):
        writer.writerow([t.trial, t.name or "", t.params, t.adapters, _num(t.validation_accuracy),
                         _num(t.final_validation_accuracy), _num(t.test_accuracy), int(t.on_front),
                         int(t.trial == best), int(t.within_budget), t.mutation, t.hash])
    return out.getvalue()


def _num(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.6g}"


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
