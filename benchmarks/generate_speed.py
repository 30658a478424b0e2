"""Generation speed: ``adaptgraph.generate`` (key-value cache, adapters by hooks) vs Hugging Face ``generate``.

One GPT-2-shaped decoder (``--layers`` x ``--width``, random weights from a config, saved once
under ``--work``), batch 1, a prompt of ``--prompt-tokens`` tokens, ``--new-tokens`` new tokens
(greedy, no early stop). Measured, interleaved so that machine load falls on each alike:

- ``hf``: ``GPT2LMHeadModel.generate(..., use_cache=True)`` on the folder: the bar;
- ``ours_base``: ``adaptgraph.generate`` with an empty spec (the cache, no hooks);
- ``ours_lora``: with rank-8 parallel adapters on every block's ``attn.c_attn`` and ``mlp.c_fc``
  (trained-looking: random, non-zero), served by hooks on the cached model;
- ``peft``: Hugging Face ``generate`` on a PEFT ``PeftModel`` holding the same LoRA (``export_peft`` of
  the same weights): the bar for the adapted model;
- ``ours_full``: the same spec with ``cache=False`` (every token recomputes the sequence).

Each is timed ``--repeats`` times end to end (one call of generate, checks included), on one thread,
by the process's CPU time (``time.process_time``: on a shared machine wall time mostly measures
the other processes) and by wall time; the medians give tokens per second, and the ratios to
``hf`` and ``peft`` are what docs/performance.md reports.

    python -m benchmarks.generate_speed [--layers 6] [--width 256] [--new-tokens 64] [--repeats 11] \\
        [--out benchmarks/results/generate_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import adaptgraph
from adaptgraph.fileio import write_text_atomic

LORA = "parallel h.*.attn.c_attn { rank = 8, act = none, bias = false }\n" \
       "parallel h.*.mlp.c_fc { rank = 8, act = none, bias = false }"


def main() -> None:
    args = _parse()
    torch.set_num_threads(args.threads)
    folder = _folder(args)
    prompt = torch.randint(1, args.vocab, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(0))
    contenders = _contenders(folder, prompt.tolist(), args.new_tokens)
    cpu = {name: [] for name in contenders}
    wall = {name: [] for name in contenders}
    for _ in range(args.repeats + 1):  # the first round warms up and is dropped
        for name, run in contenders.items():
            tic, cpu_tic = time.perf_counter(), time.process_time()
            tokens = run()
            cpu[name].append(time.process_time() - cpu_tic)
            wall[name].append(time.perf_counter() - tic)
            assert tokens == args.new_tokens, (name, tokens)
    rows = [{"method": name, "tokens_per_cpu_second": args.new_tokens / statistics.median(cpu[name][1:]),
             "tokens_per_wall_second": args.new_tokens / statistics.median(wall[name][1:]),
             "cpu_seconds": cpu[name][1:], "wall_seconds": wall[name][1:]} for name in contenders]
    bars = {r["method"]: r for r in rows if r["method"] in ("hf", "peft")}
    for row in rows:
        for bar in bars:
            row[f"ratio_to_{bar}"] = row["tokens_per_cpu_second"] / bars[bar]["tokens_per_cpu_second"]
        print(f"{row['method']:>10}: {row['tokens_per_cpu_second']:7.1f} tokens per CPU second "
              f"({row['ratio_to_hf']:.2f}x hf, {row['ratio_to_peft']:.2f}x peft); "
              f"{row['tokens_per_wall_second']:7.1f} per wall second")
    meta = {"command": "python -m benchmarks.generate_speed " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("work", "out")),
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_text_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=11)  # medians of 5 varied by 20 % on a loaded machine
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("runs/generate_speed"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/generate_speed.json"))
    return p.parse_args()


def _folder(args) -> Path:
    import transformers

    folder = args.work / f"gpt2-{args.layers}x{args.width}-v{args.vocab}"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        config = transformers.GPT2Config(vocab_size=args.vocab, n_positions=1024, n_embd=args.width,
                                         n_layer=args.layers, n_head=4)
        transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def _contenders(folder: Path, prompt: list[list[int]], new: int) -> dict:
    import transformers

    reference = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = torch.tensor(prompt)
    base = adaptgraph.compile(adaptgraph.loads(""), f"hf:{folder}")
    lora = adaptgraph.compile(adaptgraph.loads(LORA), f"hf:{folder}")
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if p.requires_grad:
                p.normal_(0, 0.02)  # a trained adapter is not zero

    def hf():
        with torch.no_grad():
            out = reference.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                                     do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)
        return out.shape[1] - ids.shape[1]

    peft = _peft_model(lora, folder)

    def hf_peft():
        with torch.no_grad():
            out = peft.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                                min_new_tokens=new, do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)
        return out.shape[1] - ids.shape[1]

    def ours(model, cache=True):
        def run():
            out = adaptgraph.generate(model, prompt, max_new_tokens=new, eos_token_id=None, cache=cache)
            assert out.cache == cache, out.notice
            return out.new_tokens
        return run

    _check_same(peft, lora, ids)
    return {"hf": hf, "ours_base": ours(base), "peft": hf_peft, "ours_lora": ours(lora),
            "ours_full": ours(lora, cache=False)}


def _check_same(peft, lora, ids) -> None:
    """The PEFT model computes what the compiled one does (so both generate with the same adapters)."""
    from adaptgraph.tasks import lm_head
    from adaptgraph.backbones import get_backbone

    with torch.no_grad():
        theirs = peft(input_ids=ids).logits
        ours = lm_head(get_backbone(lora.adaptgraph.backbone_ref))(lora(ids, torch.ones_like(ids)))
    assert torch.allclose(theirs, ours, atol=1e-4), float((theirs - ours).abs().max())


def _peft_model(lora, folder: Path):
    """The same LoRA as a PEFT model on ``AutoModelForCausalLM``: lora_A = down, lora_B = scale * up
    (lora_alpha = r, so PEFT's own scaling is 1)."""
    import transformers
    from peft import LoraConfig, get_peft_model

    base = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    peft = get_peft_model(base, LoraConfig(r=8, lora_alpha=8, target_modules=["c_attn", "c_fc"], lora_dropout=0.0,
                                           fan_in_fan_out=True)).eval()
    with torch.no_grad():
        for name, module in peft.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                adapter = lora.adapters[name.split("transformer.", 1)[1].replace(".", "_")]
                module.lora_A["default"].weight.copy_(adapter.down.weight)
                module.lora_B["default"].weight.copy_(adapter.up.weight * adapter.scale)
    return peft


if __name__ == "__main__":
    main()
