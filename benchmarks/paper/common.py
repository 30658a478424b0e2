"""What every script of the paper protocol shares: the command line, settings, paths and CSV files.

Every experiment script takes the same flags (so ``run_all.sh`` can pass one set to all
of them), turns them into a frozen :class:`Settings`, writes its raw per-run rows as CSV
and its figures as PNG into ``--results``, and records the exact command that made them
in ``<experiment>.meta.json`` beside the CSV, which ``report.py`` quotes.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from adaptgraph.fileio import write_text_atomic
from adaptgraph.score import ScoreConfig, SelectConfig

REPO = Path(__file__).resolve().parents[2]

BACKBONE = "hf:minilm"
# The two WordNet tasks (gloss -> supersense), each with more than 2,000 training glosses:
# 26 noun supersenses (2,379 train / 297 validation / 297 test) and all 45 (2,138 / 267 / 267).
TASKS = ("wordnet:noun?per_class=120", "wordnet:all?per_class=60")
SEEDS = (0, 1, 2)
RANK = SelectConfig.model_fields["rank"].default  # the defaults of scoring and selection, not copies of them
DEFAULT_RESULTS = REPO / "docs" / "results"
DEFAULT_RUNS = REPO / "runs" / "paper"
DEFAULT_DOC = REPO / "docs" / "results.md"


@dataclass(frozen=True)
class Settings:
    """One protocol's scale: the backbone, tasks, training budgets, seeds, and where things go."""

    backbone: str
    tasks: tuple[str, ...]
    rank: int
    fidelity_steps: int  # steps of a single-edge sweep trial and of an evolve search trial
    steps: int  # steps of every comparison run (retrained edges, random draws, GGA, baselines)
    batch_size: int
    lr: float
    max_length: int
    seeds: tuple[int, ...]
    device: str
    workers: int
    threads: int
    score_batches: int
    score_head: str
    sample: Optional[int]  # sweep only this many edges (a seeded sample); None: all of them
    repeat_sample: int  # edges of each sweep trained again with the second seed (is the map reproducible?)
    draws: int
    ks: tuple[int, ...]
    evolve_trials: int
    repeats: int  # timing repeats of cost.py
    results: Path = field(compare=False)
    runs: Path = field(compare=False)
    doc: Path = field(compare=False)

    def to_dict(self) -> dict:
        """Plain JSON data (tuples as lists, paths as text): equal to what a meta file reads back."""
        return json.loads(json.dumps(asdict(self), default=str))


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every script of the protocol accepts (defaults: the real protocol on MiniLM)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    scale = ap.add_argument_group("scale (defaults: the real protocol)")
    scale.add_argument("--backbone", default=BACKBONE, help=f"backbone reference (default {BACKBONE})")
    scale.add_argument("--task", action="append", dest="tasks", metavar="REF",
                       help="task reference, repeatable (default: " + " and ".join(TASKS) + ")")
    scale.add_argument("--rank", type=int, default=RANK, help="adapter rank (default %(default)s)")
    scale.add_argument("--fidelity-steps", type=int, default=60,
                       help="optimiser steps of a sweep or evolve trial (default %(default)s)")
    scale.add_argument("--steps", type=int, default=130,
                       help="optimiser steps of every comparison run (default %(default)s: just under one epoch "
                            "of batch 16 on either task, so one validation per run)")
    scale.add_argument("--batch-size", type=int, default=16, help="training batch (default %(default)s)")
    scale.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default %(default)s)")
    scale.add_argument("--max-length", type=int, default=64, help="longest token sequence (default %(default)s)")
    scale.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="seeds of repeated runs")
    scale.add_argument("--device", default="auto", help="cpu, cuda or auto (default %(default)s)")
    scale.add_argument("--workers", type=int, default=2, help="training processes at once (default %(default)s)")
    scale.add_argument("--threads", type=int, default=1, help="torch threads per training process (default 1)")
    scale.add_argument("--score-batches", type=int, default=ScoreConfig.model_fields["batches"].default,
                       help="batches of the gradient-rank scoring (default %(default)s)")
    scale.add_argument("--score-head", default=ScoreConfig.model_fields["head"].default, choices=("probe", "random"),
                       help="scoring head (default %(default)s)")
    scale.add_argument("--sample", type=int, default=None, help="sweep a seeded sample of N edges (default all)")
    scale.add_argument("--repeat-sample", type=int, default=30,
                       help="edges of each task's sweep trained again with the second seed (default %(default)s)")
    scale.add_argument("--draws", type=int, default=20, help="random placements of 12 edges (default 20)")
    scale.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4, 6, 12], help="adapter counts k of GGA")
    scale.add_argument("--evolve-trials", type=int, default=12, help="trials of the evolve search (default 12)")
    scale.add_argument("--repeats", type=int, default=3, help="timing repeats of cost.py (default 3)")
    where = ap.add_argument_group("outputs")
    where.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="CSV and PNG folder (docs/results)")
    where.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="run folders, for resuming (runs/paper)")
    where.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the report report.py writes")
    return ap


def settings_from(args: argparse.Namespace) -> Settings:
    """Frozen settings from parsed flags; SystemExit with a message for impossible values."""
    for name in ("rank", "fidelity_steps", "steps", "batch_size", "max_length", "workers", "threads",
                 "score_batches", "repeat_sample", "draws", "evolve_trials", "repeats"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return Settings(
        backbone=args.backbone, tasks=tuple(args.tasks or TASKS), rank=args.rank,
        fidelity_steps=args.fidelity_steps, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        max_length=args.max_length, seeds=tuple(args.seeds), device=args.device, workers=args.workers,
        threads=args.threads, score_batches=args.score_batches, score_head=args.score_head, sample=args.sample,
        repeat_sample=args.repeat_sample,
        draws=args.draws, ks=tuple(sorted(set(args.ks))), evolve_trials=args.evolve_trials,
        repeats=args.repeats, results=args.results, runs=args.runs, doc=args.doc)


def parse(description: str, argv: Optional[Sequence[str]]) -> Settings:
    return settings_from(parser(description).parse_args(argv))


# -- names and paths -------------------------------------------------------------------
def executor(s: Settings):
    """Where a search's trials run: ``s.workers`` processes, or this process for one worker."""
    from adaptgraph.searcher import LocalExecution, ProcessExecution

    return ProcessExecution(workers=s.workers) if s.workers > 1 else LocalExecution()


def slug(text: str, limit: int = 48) -> str:
    """A folder-safe name for a task or backbone reference."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:limit]


def command(module: str, argv: Optional[Sequence[str]]) -> str:
    """The shell command that reruns ``benchmarks.paper.<module>`` with ``argv`` (None: this process's arguments),
    from the repository root."""
    return shlex.join(["python", "-m", f"{__package__}.{module}", *arguments(argv)])


def arguments(argv: Optional[Sequence[str]]) -> list[str]:
    """``argv``, or the command line's arguments when it is None (as argparse reads them)."""
    import sys

    return list(sys.argv[1:] if argv is None else argv)


# -- CSV and the record of how a CSV was made --------------------------------------------
def write_csv(path: Path, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """Write ``rows`` (only ``columns``, in that order) as CSV, atomically; floats keep 6 digits."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    write_text_atomic(path, buf.getvalue())
    return path


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV as dicts of strings (empty cells are ``''``)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_meta(settings: Settings, experiment: str, script: str, argv: Optional[Sequence[str]],
               started: float, **extra) -> Path:
    """``<experiment>.meta.json``: the command, the settings, the machine and the wall time of this run."""
    meta = {"experiment": experiment, "command": command(script, argv), "settings": settings.to_dict(),
            "machine": machine(), "wall_seconds": round(time.perf_counter() - started, 1),
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    path = settings.results / f"{experiment}.meta.json"
    write_text_atomic(path, json.dumps(meta, indent=2) + "\n")
    return path


def read_meta(results: Path, experiment: str) -> Optional[dict]:
    path = results / f"{experiment}.meta.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine() -> dict:
    """The hardware a number came from: CPU count, load, and the GPU when there is one."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
            "torch": torch.__version__, "gpu": gpu}


def say(text: str) -> None:
    print(text, flush=True)


# -- figures ----------------------------------------------------------------------------
def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display on these machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` as PNG atomically (a temporary file, then a rename) and close it."""
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
