"""Peak memory of loading, compiling and training on Hugging Face backbones with random weights.

Each measurement runs in its own Python process, so that its peak resident memory (and, on CUDA,
its peak allocated memory) is its own:

- ``loaded``: the backbone loaded (``hf:FOLDER``);
- ``compile1``: the backbone loaded and one spec compiled on it;
- ``compile5``: the backbone loaded and five different specs compiled on it, all kept alive;
- ``step``: one spec compiled and one training step (forward, backward, AdamW) on one batch;
- ``step-ckpt``: the same step with activation checkpointing.

Every compile traces the backbone (the trace cache is off in the measured processes, unless
``--trace-cache DIR``).

Models: a BERT-base-shaped model (110M parameters, float32) and a Llama-shaped model of about
1.1B parameters (TinyLlama's shape, bfloat16), built once from a config with random weights and
saved with ``save_pretrained`` under ``$ADAPTGRAPH_BENCH_MODELS`` (default
``~/.cache/adaptgraph/bench-models``).

    python benchmarks/memory.py [--models bert-base,llama-1b] [--stages loaded,compile1,...]
                                [--label after] [--device cpu|cuda] [--out benchmarks/results/memory.json]
    python benchmarks/memory.py --table [--out ...]      # print the table from the result file
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "memory.json"
STAGES = ("loaded", "compile1", "compile5", "step", "step-ckpt")
MODELS = {
    "bert-base": {"kind": "bert", "dtype": "float32", "batch": (8, 128),
                  "config": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, vocab_size=30522)},
    "llama-1b": {"kind": "llama", "dtype": "bfloat16", "batch": (2, 128),
                 "config": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                                num_attention_heads=32, num_key_value_heads=4, vocab_size=32000)},
    # a tiny model for testing this script (and gpu_check.sh) quickly
    "bert-tiny": {"kind": "bert", "dtype": "float32", "batch": (2, 16),
                  "config": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=128, vocab_size=1000)},
}
MIB = 2 ** 20


def model_folder(name: str) -> Path:
    """The saved random-weight model ``name``, built on first use (``done`` marks a complete folder)."""
    base = Path(os.environ.get("ADAPTGRAPH_BENCH_MODELS", Path.home() / ".cache" / "adaptgraph" / "bench-models"))
    folder = base / name
    if (folder / "done").is_file():
        return folder
    import torch
    import transformers

    m = MODELS[name]
    config_cls = {"bert": transformers.BertConfig, "llama": transformers.LlamaConfig}[m["kind"]]
    config = config_cls(**m["config"])
    dtype = getattr(torch, m["dtype"])
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the saved dtype: no float32 copy of a 1B model
    try:
        model = transformers.AutoModel.from_config(config)
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(folder)
    (folder / "done").write_text("ok\n")
    return folder


def specs(layers: int) -> list[str]:
    """Five different placements over the 2L+1 stream points of an L-layer transformer."""
    n = 2 * layers
    return [
        "\n".join(f"parallel @{k} -> @{k + 1}" for k in range(n)),  # the usual baseline
        "\n".join(f"parallel @{k} -> @{k + 1}" for k in range(0, n, 2)),
        "\n".join(f"edge @{k} -> @{k + 2}" for k in range(0, n - 1, 2)),
        f"edge @0 -> @{n}\nedge @{layers} -> @{n}",
        "\n".join(f"parallel @{k} -> @{k + 1} {{ rank = 16 }}" for k in range(1, n, 2)),
    ]


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(name: str, stage: str, device: str, ref_dtype: bool) -> dict:
    """One measurement, in this process."""
    import torch

    import adaptgraph
    from adaptgraph.backbones import load_backbone

    m = MODELS[name]
    folder = model_folder(name)
    ref = f"hf:{folder}" + (f"?dtype={m['dtype']}" if ref_dtype else "")
    out: dict = {"model": name, "stage": stage, "ref": ref, "rss_start_mib": rss_now() / MIB}
    tic = time.perf_counter()
    bb = load_backbone(ref)
    if device == "cuda":  # move before compiling, so that compiled models share the CUDA tensors
        bb.module.to("cuda")
        bb = dataclasses.replace(bb, example_inputs=tuple(x.to("cuda") for x in bb.example_inputs))
        torch.cuda.reset_peak_memory_stats()
    weights = sum(t.numel() * t.element_size() for t in [*bb.module.parameters(), *bb.module.buffers()])
    out.update(load_s=time.perf_counter() - tic, weights_mib=weights / MIB,
               dtype=str(next(bb.module.parameters()).dtype), rss_loaded_mib=rss_now() / MIB,
               peak_loaded_mib=rss_peak() / MIB)
    models = []
    count = {"loaded": 0, "compile1": 1, "compile5": 5}.get(stage, 1)
    for i, text in enumerate(specs(bb.module.config.num_hidden_layers)[:count]):
        tic = time.perf_counter()
        models.append(adaptgraph.compile(adaptgraph.loads(text), bb))
        out.setdefault("compile_s", []).append(time.perf_counter() - tic)
        out.setdefault("rss_after_spec_mib", []).append(rss_now() / MIB)
        out.setdefault("adapter_mib", []).append(
            sum(p.numel() * p.element_size() for p in models[-1].parameters() if p.requires_grad) / MIB)
    if stage.startswith("step"):
        out["step_s"] = _step(models[0], bb, m["batch"], device, stage == "step-ckpt")
    out["rss_end_mib"] = rss_now() / MIB
    out["peak_rss_mib"] = rss_peak() / MIB
    if device == "cuda":
        out["cuda_peak_allocated_mib"] = torch.cuda.max_memory_allocated() / MIB
    return out


def _step(model, bb, batch: tuple[int, int], device: str, checkpointing: bool) -> float:
    import torch

    rows, length = batch
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, bb.module.config.vocab_size, (rows, length), generator=generator).to(device)
    mask = torch.ones_like(ids)
    model.to(device)
    forward = model
    if checkpointing:
        from adaptgraph.train import checkpointed
        forward = checkpointed(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    tic = time.perf_counter()
    for p in params:  # adapters start at zero: move off it so that every gradient is non-trivial
        p.data.add_(0.01)
    forward(ids, mask).float().pow(2).mean().backward()
    optimizer.step()
    return time.perf_counter() - tic


def measure(args) -> dict:
    """Run every (model, stage) in its own process; return the result record."""
    import torch

    result = {"label": args.label, "device": args.device, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "loadavg_before": os.getloadavg(), "torch": torch.__version__, "python": platform.python_version(),
              "cpu_count": os.cpu_count(), "rows": []}
    for name in args.models.split(","):
        model_folder(name)  # build outside the measured processes
        for stage in args.stages.split(","):
            cmd = [sys.executable, __file__, "--child", name, stage, "--device", args.device]
            cmd += ["--plain-ref"] if args.plain_ref else []
            # every compile traces (no trace cache), so its peak includes tracing, unless --trace-cache
            env = {**os.environ, "ADAPTGRAPH_TRACE_CACHE": args.trace_cache or "off"}
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
            if proc.returncode != 0:
                row = {"model": name, "stage": stage, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
            else:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            result["rows"].append(row)
    result["loadavg_after"] = os.getloadavg()
    return result


def merge(old: dict, new: dict) -> dict:
    """``old`` with ``new``'s rows replacing those of the same model and stage (rows of other models kept)."""
    fresh = {(r["model"], r["stage"]) for r in new["rows"]}
    rows = [r for r in old["rows"] if (r["model"], r["stage"]) not in fresh] + new["rows"]
    return {**new, "rows": rows, "loadavg_before": old["loadavg_before"], "started": old["started"]}


def table(runs: list[dict]) -> str:
    """Markdown rows: peak RSS per stage, the ratio to the loaded backbone, and the per-spec increment."""
    lines = ["| label | model (dtype, weights) | loaded | one spec | five specs | one step | step, checkpointed |"
             " one spec / loaded | each further spec / backbone |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        by: dict[str, dict] = {}
        for row in run["rows"]:
            by.setdefault(row["model"], {})[row["stage"]] = row
        for name, rows in by.items():
            cells = [_cell(rows.get(s)) for s in STAGES]
            good = next((r for r in rows.values() if "weights_mib" in r), None)
            head = f"{name} ({good['dtype'].removeprefix('torch.')}, {good['weights_mib']:.0f} MiB)" if good else name
            ratio = _ratio(rows)
            lines.append(f"| {run['label']} | {head} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if "error" in row:
        return "failed"
    return f"{row['peak_rss_mib']:.0f}"


def _ratio(rows: dict) -> str:
    loaded, one, five = rows.get("loaded"), rows.get("compile1"), rows.get("compile5")
    if not (loaded and one and "peak_rss_mib" in loaded and "peak_rss_mib" in one):
        return "- | -"
    text = f"{one['peak_rss_mib'] / loaded['peak_rss_mib']:.2f}x"
    if five and "rss_after_spec_mib" in five:
        after = five["rss_after_spec_mib"]
        further = (after[-1] - after[0]) / (len(after) - 1)  # resident growth per further spec
        adapters = sum(five["adapter_mib"][1:]) / (len(after) - 1)
        return f"{text} | {further:.0f} MiB ({further / five['weights_mib']:.1%} of the weights; adapters {adapters:.1f} MiB)"
    return f"{text} | -"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=2, metavar=("MODEL", "STAGE"), help=argparse.SUPPRESS)
    p.add_argument("--models", default="bert-base,llama-1b")
    p.add_argument("--stages", default=",".join(STAGES))
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--label", default="after")
    p.add_argument("--plain-ref", action="store_true",
                   help="load hf:FOLDER without ?dtype= (what the code before dtype options could load)")
    p.add_argument("--trace-cache", metavar="DIR", help="let the measured processes share this trace cache "
                   "(faster; peaks then exclude tracing after the first compile)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--append", action="store_true", help="add this run to the file's runs instead of replacing them")
    p.add_argument("--table", action="store_true", help="print the table from --out and stop")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.device, not args.plain_ref)))
        return
    if args.table:
        print(table(json.loads(args.out.read_text())["runs"]))
        return
    result = measure(args)
    old = json.loads(args.out.read_text())["runs"] if args.append and args.out.is_file() else []
    runs = [merge(r, result) if r["label"] == args.label else r for r in old]
    runs += [] if any(r["label"] == args.label for r in old) else [result]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(table(runs))


if __name__ == "__main__":
    main()
