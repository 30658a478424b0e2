"""The checks of ``benchmarks/gpu_check.sh`` that are Python: equivalence on the device and scoring costs.

    python benchmarks/gpu_check.py equivalence --device cuda [--minilm FOLDER] [--tiny]
    python benchmarks/gpu_check.py score --device cuda [--minilm FOLDER] [--tiny]
    python benchmarks/gpu_check.py task FILE.csv          # a small synthetic text task for `adaptgraph train`

Every line printed is one JSON record, so the log reads back as data.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.graph import trace_backbone

# every edge kind (sequential, parallel, long-range, recurrent) in one spec
ALL_KINDS = "edge @1 -> @1\nparallel @1 -> @2\nlongrange @0 -> @3\nrecurrent @-1 -> @1\nedge @2 -> @-1 { act = gelu }"
# a semantics check: a sequential edge with init = normal at the middle stream point replaces its value v by
# v + adapter(v) for everything downstream; the reference runs the traced backbone with that one value replaced
SEMANTICS = "edge @2 -> @2 { init = normal }"


class _ReplaceOne(torch.fx.Interpreter):
    """Runs a traced graph with one node's value v replaced by v + adapter(v)."""

    def __init__(self, gm, node: str, adapter):
        super().__init__(gm)
        self.node, self.adapter = node, adapter

    def run_node(self, n):
        out = super().run_node(n)
        return out + self.adapter(out) if n.name == self.node else out


def _refs(args) -> list[str]:
    refs = ["zoo:vit-tiny", "zoo:bert-tiny"] if args.tiny else \
        ["zoo:vit-tiny", "zoo:bert-tiny", "zoo:gpt-tiny", "zoo:vit-base-shape"]
    return refs + ([f"hf:{args.minilm}"] if args.minilm else [])


def equivalence(args) -> None:
    """Zero-init equivalence, disabled adapters and one semantics check, on the device."""
    for ref in _refs(args):
        bb = load_backbone(ref)
        module = bb.module.to(args.device)
        inputs = tuple(x.to(args.device) for x in bb.example_inputs)
        model = adaptgraph.compile(adaptgraph.loads(ALL_KINDS), bb).to(args.device)
        with torch.no_grad():
            want = module(*inputs)
            zero = (model(*inputs) - want).abs().max().item()
            sem = adaptgraph.compile(adaptgraph.loads(SEMANTICS), bb).to(args.device)
            edge = sem.adaptgraph.plan.edges[0]
            graph = trace_backbone(bb).gm.to(args.device)
            expected = _ReplaceOne(graph, edge.dst.node, sem.adapters[edge.name]).run(*inputs)
            semantics = (sem(*inputs) - expected).abs().max().item()
            with adaptgraph.disabled_adapters(sem):
                disabled = bool(torch.equal(sem(*inputs), want))
        print(json.dumps({"check": "equivalence", "ref": ref, "device": args.device,
                          "zero_init_max_abs": zero, "semantics_max_abs": semantics,
                          "disabled_bit_exact": disabled, "scale": want.abs().max().item()}), flush=True)


def score(args) -> None:
    """Time and peak memory of ``score_edges`` on one batch."""
    cases = [("zoo:vit-tiny" if args.tiny else "zoo:vit-base-shape", "digits?size=32" if args.tiny else "digits?size=224")]
    if args.minilm:
        cases.append((f"hf:{args.minilm}", args.text_task))
    for ref, task in cases:
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        tic = time.perf_counter()
        config = adaptgraph.ScoreConfig(batches=1, batch_size=2 if "vit" in ref else 16, head="random",
                                        device=args.device)
        scores = adaptgraph.score_edges(ref, task, config, progress=False)
        seconds = time.perf_counter() - tic
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if args.device == "cuda" else None
        print(json.dumps({"check": "score", "ref": ref, "task": task, "device": args.device, "seconds": seconds,
                          "cuda_peak_allocated_mib": peak, "points": len(scores.points)}), flush=True)


def task(args) -> None:
    """Write a CSV text task: 4 classes told apart by a topic word, 200 rows."""
    rng = random.Random(0)
    topics = {"animal": ["dog", "cat", "horse"], "food": ["bread", "apple", "soup"],
              "tool": ["hammer", "saw", "drill"], "place": ["city", "river", "forest"]}
    filler = "the a some one big small old new red green near far".split()
    with open(args.path, "w") as f:
        f.write("text,label\n")
        for i in range(200):
            label = list(topics)[i % 4]
            words = rng.sample(filler, 5) + [rng.choice(topics[label])]
            rng.shuffle(words)
            f.write(f"{' '.join(words)},{label}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("equivalence", "score", "task"))
    p.add_argument("path", nargs="?")
    p.add_argument("--device", default="cuda")
    p.add_argument("--minilm", help="folder of a Hugging Face MiniLM (e.g. .minilm16)")
    p.add_argument("--text-task", default="csv:gpu_task.csv")
    p.add_argument("--tiny", action="store_true", help="tiny backbones and inputs, to test this script on a CPU")
    args = p.parse_args()
    {"equivalence": equivalence, "score": score, "task": task}[args.what](args)


if __name__ == "__main__":
    main()
