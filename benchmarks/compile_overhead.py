"""What compiling costs, and what the compiled graph costs at run time.

(a) compile time: zoo:vit-base-shape with 24 parallel edges, and hf:minilm;
(b) median forward+backward step of the compiled model against a hand-written eager
    module with the same adapters (same weights), measured interleaved in one process;
(c) one recurrent edge into an early, a middle and a late stream point, against two
    full forward passes of the backbone;
(d) tracing with a cold and a warm trace cache, each in a fresh process, and the wall time of
    `adaptgraph compile` from the shell with a cold and a warm cache (zoo:vit-base-shape, hf:minilm).

    python benchmarks/compile_overhead.py [--repeats 15] [--batch 2] [--threads 1] [--out benchmarks/results/compile_overhead.json]
    python benchmarks/compile_overhead.py --sections cache     # only (d); the file keeps the other sections
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.compiler import apply_plan, resolve
from adaptgraph.graph import trace_backbone
from adaptgraph.fileio import write_text_atomic

PARALLEL_24 = "for k in 0..23 { parallel @{k} -> @{k+1} { init = normal } }"


class EagerParallelViT(nn.Module):
    """The zoo ViT with one parallel adapter per sub-layer, written by hand."""

    def __init__(self, vit: nn.Module, adapters: list[nn.Module]):
        super().__init__()
        self.vit, self.adapters = vit, nn.ModuleList(adapters)

    def forward(self, pixels):
        v = self.vit
        x = v.patch_embed(pixels)
        x = torch.cat([v.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + v.pos_embed
        for b, blk in enumerate(v.blocks):
            x = x + blk.attn(blk.norm1(x)) + self.adapters[2 * b](x)
            x = x + blk.mlp(blk.norm2(x)) + self.adapters[2 * b + 1](x)
        return v.norm(x)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step(model, x):
    def run():
        model.zero_grad(set_to_none=True)
        model(x).float().pow(2).mean().backward()
    return run


def compile_times() -> dict:
    out = {}
    start = time.perf_counter()
    bb = load_backbone("zoo:vit-base-shape")
    load_s = time.perf_counter() - start
    trace_s = timed(lambda: trace_backbone(bb))
    traced = trace_backbone(bb)
    spec = adaptgraph.loads(PARALLEL_24)
    apply_s = timed(lambda: apply_plan(traced, resolve(spec, traced)))
    out["zoo:vit-base-shape, 24 parallel edges"] = {"load_s": load_s, "trace_s": trace_s, "compile_s": apply_s}
    start = time.perf_counter()
    mini = load_backbone("hf:minilm")
    load_s = time.perf_counter() - start
    trace_s = timed(lambda: trace_backbone(mini))
    traced = trace_backbone(mini)
    spec = adaptgraph.loads("for k in 0..11 { parallel @{k} -> @{k+1} }")
    apply_s = timed(lambda: apply_plan(traced, resolve(spec, traced)))
    out["hf:minilm, 12 parallel edges"] = {"load_s": load_s, "trace_s": trace_s, "compile_s": apply_s}
    return out


def step_ratio(repeats: int, batch: int) -> dict:
    bb = load_backbone("zoo:vit-base-shape")
    model = adaptgraph.compile(adaptgraph.loads(PARALLEL_24), bb)
    adapters = [model.adapters[e.name] for e in model.adaptgraph.plan.edges]
    eager = EagerParallelViT(bb.module, adapters)
    for p in eager.vit.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), eager(x), atol=1e-4), "the two models must compute the same thing"
    runs = {"compiled": step(model, x), "eager": step(eager, x)}
    for fn in runs.values():
        fn()  # warm up
    times = {k: [] for k in runs}
    for _ in range(repeats):  # interleave, so load on the machine hits both alike
        for k, fn in runs.items():
            times[k].append(timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    # each compiled step is paired with the eager step run right after it, so slow drifts in the
    # machine's load cancel; the median of the pairs' ratios is the number reported
    pairs = sorted(c / e for c, e in zip(times["compiled"], times["eager"]))
    return {"batch": batch, "repeats": repeats, "compiled_step_s": med["compiled"], "eager_step_s": med["eager"],
            "ratio": statistics.median(pairs), "ratio_quartiles": [pairs[len(pairs) // 4], pairs[3 * len(pairs) // 4]]}


def recurrent_cost(repeats: int, batch: int) -> dict:
    bb = load_backbone("zoo:vit-base-shape")
    traced = trace_backbone(bb)
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    models = {"backbone": apply_plan(traced, resolve(adaptgraph.loads(""), traced))}
    for label, k in (("early (@1)", 1), ("middle (@12)", 12), ("late (@23)", 23)):
        models[label] = apply_plan(traced, resolve(adaptgraph.loads(f"recurrent @24 -> @{k}"), traced))
    times = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():
            m(x)
        for _ in range(repeats):
            for k, m in models.items():
                times[k].append(timed(lambda: m(x)))
    base = statistics.median(times["backbone"])
    rows = {"backbone_forward_s": base}
    for k in models:
        if k != "backbone":
            med = statistics.median(times[k])
            rows[k] = {"forward_s": med, "vs_one_pass": med / base, "vs_two_full_passes": med / (2 * base)}
    return rows


CACHE_CASES = {"zoo:vit-base-shape": PARALLEL_24, "hf:minilm": "for k in 0..11 { parallel @{k} -> @{k+1} }"}
_TRACE_CHILD = """
import sys, time, json
tic = time.perf_counter()
from adaptgraph.backbones import load_backbone
from adaptgraph.graph import trace_backbone
bb = load_backbone(sys.argv[1])
loaded = time.perf_counter()
trace_backbone(bb)
print(json.dumps({"load_s": loaded - tic, "trace_s": time.perf_counter() - loaded}))
"""


def cache_times(threads: int) -> dict:
    """Cold and warm trace cache, each in a fresh process; and `adaptgraph compile` wall time from the shell."""
    out = {"load_average_before": os.getloadavg()}
    for ref, text in CACHE_CASES.items():
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "ADAPTGRAPH_TRACE_CACHE": str(Path(folder) / "traces"),
                   "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
            spec = Path(folder) / "spec.adapt"
            spec.write_text(text + "\n")
            row = {}
            for state in ("cold", "warm"):  # the cold run fills the cache the warm run reads
                proc = subprocess.run([sys.executable, "-c", _TRACE_CHILD, ref], env=env, capture_output=True,
                                      text=True, check=True)
                row[f"trace_{state}"] = json.loads(proc.stdout.strip().splitlines()[-1])
            traces = Path(folder) / "traces"
            for state in ("warm", "cold"):  # warm first: the cache is full; then emptied for the cold run
                if state == "cold":
                    for f in traces.glob("*.pt"):
                        f.unlink()
                cmd = [str(Path(sys.executable).with_name("adaptgraph")), "compile", str(spec), "--backbone", ref]
                tic = time.perf_counter()
                subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                row[f"shell_compile_{state}_s"] = time.perf_counter() - tic
            out[ref] = row
    out["load_average_after"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared machine)")
    ap.add_argument("--out", default="benchmarks/results/compile_overhead.json")
    ap.add_argument("--sections", default="compile,step,recurrent,cache",
                    help="which parts to run; the others are kept from --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sections = args.sections.split(",")
    os.environ["ADAPTGRAPH_TRACE_CACHE"] = "off"  # in this process every trace is a cold one
    result = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    result.update({"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                              f"torch {torch.__version__}", "load_average_at_start": os.getloadavg()})
    runs = {"compile": compile_times, "step": lambda: step_ratio(args.repeats, args.batch),
            "recurrent": lambda: recurrent_cost(args.repeats, args.batch), "cache": lambda: cache_times(args.threads)}
    for name in sections:
        result[name] = runs[name]()
    result["sections_run"] = sections
    result["load_average_at_end"] = os.getloadavg()
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
