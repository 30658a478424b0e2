"""adaptgraph beside PEFT on a pretrained GPT-2-shaped decoder: LoRA against LoRA, and GGA against LoRA.

The decoder and its text are ``benchmarks/lm_gga.py``'s: a GPT-2-shaped model with a byte-level BPE
tokenizer pretrained here on the Old Testament of the King James Bible (Debian's ``bible-kjv``),
adapted on the New Testament (``lm:nt.txt?block=64&split=80/10/10``). Three methods, each with
every seed of ``--seeds``, the same steps, batch, learning rate and schedule:

- ``ours_lora``: adaptgraph, ``parallel h.*.attn.c_attn { rank = 8, act = none, bias = false,
  scale = 2, init = lora }``: exactly a LoRA on every attention input projection (GPT-2 fuses q, k
  and v in ``c_attn``), trained by ``adaptgraph train``'s loop (``train_spec``);
- ``peft_lora``: PEFT's ``LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn"])`` on
  ``AutoModelForCausalLM``, trained by a loop written out below with what adaptgraph's does: the
  same batches in the same order (adaptgraph's loader, same seed), AdamW (weight decay 0.01 on
  matrices), 10 % linear warm-up then cosine (adaptgraph's ``lr_lambda``), gradient clipping at 1,
  the frozen model in eval mode (no dropout, as adaptgraph keeps its backbone);
- ``gga``: adaptgraph, edges chosen by GGA from gradient-rank scores under the LM loss, with at most
  as many trainable parameters as ``ours_lora`` (``select(scores, SelectConfig(max_params=...))``).

Quality: validation and test perplexity per run (exp of the mean token loss over all blocks of the
split; PEFT's is computed from the model's own ``loss`` over the same blocks). Speed (one thread,
CPU time, so that the shared machine's load does not count; interleaved, every other round in
the reverse order, median of ``--repeats``):

- one training step (forward, loss, backward, clipping, AdamW) on the same batch, ours vs PEFT;
- generation: batch 1, an 8-token prompt, 56 new tokens (the decoder has 64 positions), greedy: ``adaptgraph.generate`` (its
  key-value cache, adapters by hooks) vs ``PeftModel.generate`` (Hugging Face's, with its cache).

    python -m benchmarks.lm_peft [--work runs/lm_gga] [--text kjv.txt] [--layers 2] [--width 64]
        [--vocab 2048] [--pretrain-steps 300] [--steps 150] [--seeds 0 1 2] [--repeats 100]

Writes ``docs/results/lm_peft.csv`` (one row per run) and ``lm_peft.meta.json`` (the command, the
machine and the speed measurements); ``python -m benchmarks.paper.report`` puts them in
docs/results.md. Finished runs (under ``--work/peft_runs``) are read back on a rerun.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.fileio import write_text_atomic
from adaptgraph.score import ScoreConfig, SelectConfig, score_edges, select
from adaptgraph.tasks import bind_task, load_task, make_loader
from adaptgraph.train import TrainConfig, lr_lambda, train_spec
from benchmarks.lm_gga import _pretrained, _texts
from benchmarks.paper import common

EXPERIMENT = "lm_peft"
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
RANK, ALPHA = 8, 16
LORA_SPEC = f"parallel h.*.attn.c_attn {{ rank = {RANK}, act = none, bias = false, scale = {ALPHA // RANK}, init = lora }}"
COLUMNS = ("method", "seed", "params", "val_ppl", "test_ppl", "device", "spec")


def main(argv=None) -> None:
    started = time.perf_counter()
    args = _parse(argv)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    folder = _pretrained(args, _texts(args)[0])
    task = f"lm:{_texts(args)[1]}?block={args.block}&split=80/10/10"
    config = TrainConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size, device="cpu")
    lora_params = adaptgraph.compile(adaptgraph.loads(LORA_SPEC), f"hf:{folder}").adaptgraph.trainable
    gga = _gga_spec(args, folder, task, lora_params)
    rows = []
    for seed in args.seeds:
        rows.append(_ours(args, folder, task, "ours_lora", LORA_SPEC, config.model_copy(update={"seed": seed})))
        rows.append(_peft(args, folder, task, config.model_copy(update={"seed": seed})))
        rows.append(_ours(args, folder, task, "gga", gga, config.model_copy(update={"seed": seed})))
    speed = _speed(args, folder, task, config)
    for row in rows:
        row["device"] = config.device
    common.write_csv(RESULTS / f"{EXPERIMENT}.csv", rows, COLUMNS)
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    meta = {"experiment": EXPERIMENT, "command": f"python -m benchmarks.lm_peft {argv_text}".strip(),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "machine": common.machine(), "wall_seconds": round(time.perf_counter() - started, 1),
            "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), "speed": speed,
            "folder": folder.name, "lora_params": lora_params}
    write_text_atomic(RESULTS / f"{EXPERIMENT}.meta.json", json.dumps(meta, indent=2) + "\n")
    print(json.dumps(speed, indent=2))


def _parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/lm_gga"))
    p.add_argument("--text", type=Path, help="a dump of the KJV made with `bible Genesis1:1-Revelation22:21`")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--pretrain-steps", type=int, default=300)
    p.add_argument("--steps", type=int, default=150, help="adapter training steps per run")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--repeats", type=int, default=100, help="timed repeats of a training step and of generation "
                   "(the step times of one round spread by about 10 %% on a shared machine: a median of few misleads)")
    return p.parse_args(argv)


def _gga_spec(args, folder: Path, task: str, budget: int) -> str:
    """GGA's edges within ``budget`` trainable parameters (scores kept in --work for a rerun)."""
    path = args.work / f"gga_{folder.name}_b{budget}.adapt"
    if not path.exists():
        scores = score_edges(f"hf:{folder}", load_task(task), ScoreConfig(batch_size=args.batch_size), progress=False)
        write_text_atomic(path, adaptgraph.dumps(select(scores, SelectConfig(max_params=budget, rank=RANK))))
    return path.read_text()


def _ours(args, folder: Path, task: str, method: str, spec: str, config: TrainConfig) -> dict:
    out = args.work / "peft_runs" / f"{method}_s{config.seed}_{args.steps}"
    if (out / "metrics.json").exists():
        metrics = json.loads((out / "metrics.json").read_text())
    else:
        metrics = train_spec(adaptgraph.loads(spec), task, backbone=f"hf:{folder}", config=config, out=out,
                             progress=False).metrics
    return _row(method, config.seed, metrics["trainable_parameters"]["model"], metrics["validation"]["perplexity"],
                metrics["test"]["perplexity"], spec)


def _row(method, seed, params, val_ppl, test_ppl, spec) -> dict:
    row = {"method": method, "seed": seed, "params": params, "val_ppl": round(val_ppl, 4),
           "test_ppl": round(test_ppl, 4), "spec": " ; ".join(line.strip() for line in spec.splitlines()
                                                              if line.strip() and not line.startswith("backbone "))}
    print(json.dumps(row), flush=True)
    return row


# -- PEFT -----------------------------------------------------------------------------------------
def _peft_model(folder: Path, seed: int):
    import transformers
    from peft import LoraConfig, get_peft_model

    base = transformers.AutoModelForCausalLM.from_pretrained(folder)
    torch.manual_seed(seed)  # LoRA's A is drawn from the global generator
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=["c_attn"], lora_dropout=0.0, fan_in_fan_out=True)
    return get_peft_model(base, config).eval()  # eval: the frozen model without dropout, as adaptgraph's


def _blocks(folder: Path, task: str):
    bb = get_backbone(f"hf:{folder}")
    return bb, bind_task(load_task(task), bb)


def _peft(args, folder: Path, task: str, config: TrainConfig) -> dict:
    done = args.work / "peft_runs" / f"peft_lora_s{config.seed}_{args.steps}.json"
    if done.exists():
        return json.loads(done.read_text())
    bb, bound = _blocks(folder, task)
    model = _peft_model(folder, config.seed)
    loader = make_loader(bound.examples("train"), bb, batch_size=config.batch_size, max_length=args.block,
                         shuffle=True, seed=config.seed)
    optimizer, scheduler = _optimizer(model, config)
    step = 0
    while step < config.steps:
        loader.batch_sampler.set_epoch(step // len(loader))
        for batch in loader:
            if step >= config.steps:
                break
            _peft_step(model, optimizer, scheduler, batch.inputs[0], config)
            step += 1
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    row = _row("peft_lora", config.seed, params, _peft_perplexity(model, bound, "validation"),
               _peft_perplexity(model, bound, "test"), f"LoraConfig(r={RANK}, lora_alpha={ALPHA}, c_attn)")
    done.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(done, json.dumps(row) + "\n")
    return row


def _optimizer(model, config: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, config.steps))


def _peft_step(model, optimizer, scheduler, ids: torch.Tensor, config: TrainConfig) -> None:
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], config.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


@torch.no_grad()
def _peft_perplexity(model, bound, split: str) -> float:
    """exp of the mean token loss over the split's blocks (all of one length: the mean of block means)."""
    blocks = torch.stack([block for block, _ in bound.examples(split)])
    losses = [float(model(input_ids=b, labels=b).loss) * len(b) for b in blocks.split(64)]
    return math.exp(sum(losses) / len(blocks))


# -- speed ----------------------------------------------------------------------------------------
def _speed(args, folder: Path, task: str, config: TrainConfig) -> dict:
    """Median CPU seconds of a training step and tokens per CPU second of generation, ours and PEFT's."""
    bb, bound = _blocks(folder, task)
    batch = next(iter(make_loader(bound.examples("train"), bb, batch_size=config.batch_size,
                                  max_length=args.block, shuffle=True, seed=0)))
    ours = adaptgraph.compile(adaptgraph.loads(LORA_SPEC), bb)
    head = bound.make_head(bb)
    peft = _peft_model(folder, 0)
    ours_opt, ours_sched = _optimizer(ours, config)
    peft_opt, peft_sched = _optimizer(peft, config)
    ids, mask = batch.inputs[0], batch.attention_mask

    def ours_step():
        loss = head.per_example_loss(head(ours(ids, mask)), batch).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in ours_opt.param_groups for p in g["params"]], config.grad_clip)
        ours_opt.step()
        ours_sched.step()
        ours_opt.zero_grad(set_to_none=True)

    prompt = ids[:1, :8]
    new = args.block - prompt.shape[1]  # the decoder has positions for one block

    def ours_generate():
        out = adaptgraph.generate(ours, prompt.tolist(), max_new_tokens=new, eos_token_id=None, backbone=bb)
        assert out.cache and out.new_tokens == new, out.notice

    def peft_generate():
        with torch.no_grad():
            out = peft.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new,
                                min_new_tokens=new, do_sample=False, use_cache=True, pad_token_id=0,
                                eos_token_id=None)
        assert out.shape[1] == prompt.shape[1] + new

    timed = {"ours_step": ours_step, "peft_step": lambda: _peft_step(peft, peft_opt, peft_sched, ids, config),
             "ours_generate": ours_generate, "peft_generate": peft_generate}
    cpu = {name: [] for name in timed}
    for round_ in range(args.repeats + 1):  # the first round warms up and is dropped
        # every other round in the reverse order: which of a pair runs first (on caches the other warmed or
        # evicted) changes its time by 1-2 %, so neither side always goes first
        for name, run in list(timed.items())[::-1 if round_ % 2 else 1]:
            tic = time.process_time()
            run()
            cpu[name].append(time.process_time() - tic)
    median = {name: statistics.median(times[1:]) for name, times in cpu.items()}
    pairs = [a / b for a, b in zip(cpu["ours_step"][1:], cpu["peft_step"][1:])]  # the two steps of one round
    return {"step_seconds": {"ours": median["ours_step"], "peft": median["peft_step"]},
            "step_time_ratio": median["ours_step"] / median["peft_step"],
            "step_ratio_quartiles": statistics.quantiles(pairs, n=4) if len(pairs) > 1 else pairs * 3,
            "generate_tokens_per_second": {"ours": new / median["ours_generate"], "peft": new / median["peft_generate"]},
            "generate_ratio": median["peft_generate"] / median["ours_generate"],
            "cpu_seconds": {name: times[1:] for name, times in cpu.items()},
            "batch": [config.batch_size, args.block], "prompt_tokens": prompt.shape[1], "new_tokens": new}


if __name__ == "__main__":
    main()
