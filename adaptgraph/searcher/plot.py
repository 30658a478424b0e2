"""``progress.png``: the best validation accuracy against trials, and accuracy against trainable parameters."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..fileio import write_bytes_atomic
from .result import SearchResult


def draw_progress(result: SearchResult, path: Path) -> Optional[Path]:
    """Save the two-panel progress plot; None (nothing written) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ok = [t for t in result.trials if t.validation_accuracy is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    _progress_panel(left, result, ok)
    _front_panel(right, result, ok)
    fig.suptitle(f"adaptgraph search ({result.strategy}): {len(result.trials)} trials")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _progress_panel(ax, result: SearchResult, ok) -> None:
    from matplotlib.ticker import MaxNLocator

    inside = [t for t in ok if t.within_budget]
    outside = [t for t in ok if not t.within_budget]
    ax.scatter([t.trial for t in inside], [t.validation_accuracy for t in inside], s=14, color="0.6", label="trial")
    if outside:
        ax.scatter([t.trial for t in outside], [t.validation_accuracy for t in outside], s=22, facecolors="none",
                   edgecolors="0.4", label="trial outside the budget")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    xs, ys, best = [], [], None
    for t in sorted(result.trials, key=lambda t: t.trial):
        if t.within_budget and t.validation_accuracy is not None:
            best = t.validation_accuracy if best is None else max(best, t.validation_accuracy)
        if best is not None:
            xs.append(t.trial)
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="C0", label="best within budget")
    failed = [t.trial for t in result.trials if t.status != "ok"]
    if failed:
        low = min([t.validation_accuracy for t in ok] or [0.0])
        ax.scatter(failed, [low] * len(failed), marker="x", color="C3", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy (search fidelity)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.7)


def _front_panel(ax, result: SearchResult, ok) -> None:
    ax.scatter([t.params for t in ok], [t.validation_accuracy for t in ok], s=14, color="0.6", label="trial")
    front = sorted((t for t in ok if t.on_front), key=lambda t: t.params)
    if front:
        ax.step([t.params for t in front], [t.validation_accuracy for t in front], where="post", color="C0",
                marker="o", ms=4, label="Pareto front (validation)")
    tested = [t for t in ok if t.test_accuracy is not None]
    if tested:
        ax.scatter([t.params for t in tested], [t.test_accuracy for t in tested], marker="D", s=30,
                   facecolors="none", edgecolors="C2", label="test, retrained at full budget")
    for t, marker, label in ((result.best, "*", "best"), (result.baseline, "s", "every-sub-layer baseline")):
        if t is not None and t.validation_accuracy is not None:
            ax.scatter([t.params], [t.validation_accuracy], marker=marker, s=120, color="C1" if marker == "*"
                       else "C4", zorder=3, label=label)
    if ok:
        ax.set_xscale("log")
    ax.set_xlabel("trainable adapter parameters")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.7)
