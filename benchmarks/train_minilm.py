"""Training on the real MiniLM and real WordNet: linear probe vs one adapter vs one parallel adapter
per sub-layer (the usual baseline), several seeds each.

    python benchmarks/train_minilm.py [--seeds 0 1 2] [--epochs 3] [--runs-dir runs/bench_train_minilm]
    # or share the work between processes, then summarise:
    python benchmarks/train_minilm.py --only sub-layer --seeds 1 --threads 1 &
    python benchmarks/train_minilm.py --no-train

Resumable: every finished run is recorded in benchmarks/results/train_minilm_runs.jsonl
(committed, so a later checkout resumes too) and is not trained again; a finished run
folder (its metrics.json) is recorded without retraining. `--no-train` only collects
and summarises what is finished. Writes benchmarks/results/train_minilm.json and prints
a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

import torch

import adaptgraph
from adaptgraph.fileio import write_text_atomic
from adaptgraph.train import RunOutput, TrainConfig, train_spec

TASK = "wordnet:noun?per_class=120"  # all 26 noun supersenses, 2,379 training examples
SPECS = {
    "linear probe": "",
    "one adapter (parallel @6 -> @7)": "parallel @6 -> @7",
    "parallel adapter per sub-layer (12)": "for k in 0..11 { parallel @{k} -> @{k+1} }",
}


RUNS_FILE = Path("benchmarks/results/train_minilm_runs.jsonl")
KEPT = ("test_accuracy", "validation", "trainable_parameters", "timing", "train_examples", "num_classes", "best_epoch")


def recorded() -> dict:
    if not RUNS_FILE.exists():
        return {}
    rows = [json.loads(line) for line in RUNS_FILE.read_text().splitlines() if line.strip()]
    return {(r["placement"], r["seed"], r["epochs"]): r for r in rows}


def record(row: dict) -> None:
    rows = {**recorded(), (row["placement"], row["seed"], row["epochs"]): row}
    write_text_atomic(RUNS_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows.values()))


def run_one(name: str, text: str, seed: int, epochs: int, runs_dir: Path, train: bool = True) -> dict | None:
    if (name, seed, epochs) in recorded():
        return recorded()[(name, seed, epochs)]
    out = runs_dir / f"{_slug(name)}_seed{seed}"
    trained_here = not (out / "metrics.json").exists()
    if trained_here:
        if not train:
            return None
        spec = adaptgraph.loads(f'backbone "hf:minilm"\ndefaults {{ rank = 8 }}\n{text}\n')
        config = TrainConfig(epochs=epochs, lr=1e-3, batch_size=32, max_length=64, seed=seed)
        train_spec(spec, TASK, config=config, out=RunOutput(out, overwrite=True), progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    # the 1-minute load average at the end of a run trained here (None: collected from an earlier folder)
    row = {"placement": name, "seed": seed, "epochs": epochs, "load_average": os.getloadavg()[0] if trained_here else None,
           **{k: metrics[k] for k in KEPT}}
    record(row)
    return row


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.split(" (")[0]).strip("_")


def summarise(rows: list[dict]) -> dict:
    acc = [r["test_accuracy"] for r in rows]
    return {"test_accuracy_mean": statistics.mean(acc), "test_accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "test_accuracies": acc, "trainable_parameters": rows[0]["trainable_parameters"],
            "seconds_per_epoch_mean": statistics.mean(r["timing"]["seconds_per_epoch"] for r in rows),
            "train_examples": rows[0]["train_examples"], "num_classes": rows[0]["num_classes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--runs-dir", default="runs/bench_train_minilm")
    ap.add_argument("--out", default="benchmarks/results/train_minilm.json")
    ap.add_argument("--no-train", action="store_true", help="only collect and summarise finished runs")
    ap.add_argument("--only", metavar="TEXT", help="train only placements whose name contains TEXT (several "
                                                   "processes can then share the work)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for name, text in SPECS.items():
        if args.only and args.only not in name:
            continue
        rows = [run_one(name, text, s, args.epochs, Path(args.runs_dir), not args.no_train) for s in args.seeds]
        rows = [r for r in rows if r is not None]
        if rows:
            results[name] = {**summarise(rows), "seeds_finished": [r["seed"] for r in rows]}
        print(f"{name}: {len(rows)} of {len(args.seeds)} seeds finished", flush=True)
    doc = {"task": TASK, "epochs": args.epochs, "seeds": args.seeds,
           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
           "results": results}
    write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    print("| placement | seeds | trainable params (adapters + head) | test accuracy, mean ± std | seconds/epoch |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        p = r["trainable_parameters"]
        print(f"| {name} | {len(r['seeds_finished'])} | {p['model']:,} + {p['head']:,} | {r['test_accuracy_mean']:.4f} ± "
              f"{r['test_accuracy_std']:.4f} | {r['seconds_per_epoch_mean']:.1f} |")


if __name__ == "__main__":
    main()
