"""A GGA search on the real MiniLM and real WordNet: the worked example of docs/search.md.

    python benchmarks/search_minilm.py [--out runs/search_minilm] [--fidelity-steps 75] [--epochs 3]

Runs exactly this command (printed first), timing it:

    adaptgraph search --task 'wordnet:noun?per_class=120' --backbone hf:minilm --strategy gga -k 2 4 \
        --baseline --fidelity-steps 75 --epochs 3 --max-length 64 --executor process --workers 2 \
        --out runs/search_minilm

Resumable: rerun it after an interruption and it continues the search (``--resume``),
adding the new session's minutes to those already recorded.
Writes benchmarks/results/search_minilm.json (the summary, the wall-clock minutes and
the machine), copies the progress plot to docs/search_minilm_progress.png and prints a
markdown table of the trials.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import time
from pathlib import Path

from adaptgraph.cli import main as cli
from adaptgraph.fileio import write_text_atomic

TASK = "wordnet:noun?per_class=120"  # all 26 noun supersenses, 2,379 training examples


def command(args) -> list[str]:
    return ["search", "--task", TASK, "--backbone", "hf:minilm", "--strategy", "gga", "-k", "2", "4",
            "--baseline", "--fidelity-steps", str(args.fidelity_steps), "--epochs", str(args.epochs),
            "--max-length", "64", "--executor", args.executor, "--workers", str(args.workers),
            "--out", args.out]


def table(summary: dict) -> str:
    rows = ["| trial | how | adapters | trainable params | val. acc. (fidelity) | val. acc. (full) | test acc. |",
            "|---|---|---|---|---|---|---|"]
    for t in summary["trials"]:
        rows.append(f"| {t['trial']} | {t['mutation']} | {t['adapters']} | {t['params']:,} | "
                    f"{_pct(t['validation_accuracy'])} | {_pct(t['final_validation_accuracy'])} | "
                    f"{_pct(t['test_accuracy'])} |")
    return "\n".join(rows)


def _earlier_minutes(results: Path, argv: list[str]) -> float:
    """The wall clock recorded by earlier sessions of the same command, so that a resumed run reports the total."""
    if not results.exists():
        return 0.0
    earlier = json.loads(results.read_text())
    return earlier["wall_clock_minutes"] if earlier.get("command") == "adaptgraph " + shlex.join(argv) else 0.0


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/search_minilm")
    ap.add_argument("--fidelity-steps", type=int, default=75, help="one epoch of 2,379 examples at batch 32")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--executor", default="process")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--results", default="benchmarks/results/search_minilm.json")
    ap.add_argument("--plot", default="docs/search_minilm_progress.png")
    args = ap.parse_args()
    argv = command(args)
    resume = (Path(args.out) / "manifest.json").exists()
    print("adaptgraph " + shlex.join(argv) + (" --resume" if resume else ""), flush=True)
    tic = time.perf_counter()
    code = cli(argv + (["--resume"] if resume else []))
    minutes = (time.perf_counter() - tic) / 60
    if code != 0:
        raise SystemExit(code)
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    minutes += _earlier_minutes(Path(args.results), argv) if resume else 0.0
    doc = {"command": "adaptgraph " + shlex.join(argv), "resumed": resume, "wall_clock_minutes": round(minutes, 2),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "summary": summary}
    write_text_atomic(args.results, json.dumps(doc, indent=1) + "\n")
    shutil.copyfile(Path(args.out) / "progress.png", args.plot)
    print(f"\nwall clock: {minutes:.1f} minutes (all sessions of this run folder)\n")
    print(table(summary))


if __name__ == "__main__":
    main()
