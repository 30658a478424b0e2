"""Training on the real MiniLM and real WordNet: linear probe vs one adapter vs one parallel adapter
per sub-layer (the usual baseline), several seeds each.

    python benchmarks/train_minilm.py [--seeds 0 1 2] [--epochs 3] [--runs-dir runs/bench_train_minilm]

Resumable: a finished run (its metrics.json) is not trained again. Writes
benchmarks/results/train_minilm.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

import adaptgraph
from adaptgraph.fileio import write_text_atomic
from adaptgraph.runs import train_spec
from adaptgraph.train import TrainConfig

TASK = "wordnet:noun?per_class=120"  # all 26 noun supersenses, 2,379 training examples
SPECS = {
    "linear probe": "",
    "one adapter (parallel @6 -> @7)": "parallel @6 -> @7",
    "parallel adapter per sub-layer (12)": "for k in 0..11 { parallel @{k} -> @{k+1} }",
}


def run_one(name: str, text: str, seed: int, epochs: int, runs_dir: Path) -> dict:
    out = runs_dir / f"{_slug(name)}_seed{seed}"
    if not (out / "metrics.json").exists():
        spec = adaptgraph.loads(f'backbone "hf:minilm"\ndefaults {{ rank = 8 }}\n{text}\n')
        config = TrainConfig(epochs=epochs, lr=1e-3, batch_size=32, max_length=64, seed=seed)
        train_spec(spec, TASK, config=config, out_dir=out, overwrite=True, progress=False)
    return json.loads((out / "metrics.json").read_text())


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
    args = ap.parse_args()
    results = {}
    for name, text in SPECS.items():
        rows = [run_one(name, text, s, args.epochs, Path(args.runs_dir)) for s in args.seeds]
        results[name] = summarise(rows)
        print(f"done: {name}", flush=True)
    doc = {"task": TASK, "epochs": args.epochs, "seeds": args.seeds,
           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
           "results": results}
    write_text_atomic(args.out, json.dumps(doc, indent=2) + "\n")
    print("| placement | trainable params (adapters + head) | test accuracy, mean ± std | seconds/epoch |")
    print("|---|---|---|---|")
    for name, r in results.items():
        p = r["trainable_parameters"]
        print(f"| {name} | {p['model']:,} + {p['head']:,} | {r['test_accuracy_mean']:.4f} ± "
              f"{r['test_accuracy_std']:.4f} | {r['seconds_per_epoch_mean']:.1f} |")


if __name__ == "__main__":
    main()
