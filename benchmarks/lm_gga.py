"""Causal language modelling on a real English text: GGA-placed adapters vs the usual baseline.

The text is the King James Bible from Debian's ``bible-kjv`` and ``bible-kjv-text`` packages
(public domain; ``apt-get install bible-kjv``), dumped with ``bible Genesis1:1-Revelation22:21``
(or give ``--text`` holding that dump). No pretrained decoder ships in any package this project
can install offline, so the script makes one: a GPT-2-shaped model (``--layers`` x ``--width``)
with a byte-level BPE tokenizer, both trained on the Old Testament and saved as a Hugging Face
folder. The adapters are then trained on the New Testament (``lm:nt.txt``: 80/10/10 in file
order) on top of that frozen ``hf:`` folder:

- ``frozen``: no adapter, the pretrained model as it is;
- ``baseline``: one rank-8 parallel adapter per sub-layer (``parallel @k -> @k+1``, 2 per block);
- ``gga_kK``: K rank-8 edges chosen by GGA from the gradient-rank scores under the LM loss.

    python -m benchmarks.lm_gga [--work runs/lm_gga] [--pretrain-steps 600] [--steps 300] \\
        [--ks 2 4] [--seeds 0 1]

Prints a markdown table of validation and test perplexity per method (mean over seeds) and
writes ``--work/lm_gga.json``. The pretrained folder and finished runs are reused on a rerun.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import torch

import adaptgraph
from adaptgraph.fileio import write_text_atomic
from adaptgraph.score import ScoreConfig, SelectConfig, score_edges, select
from adaptgraph.tasks import bind_task, load_task
from adaptgraph.train import TrainConfig, train_spec

VERSES = "Genesis1:1-Revelation22:21"
NEW_TESTAMENT = "Matthew 1"  # the chapter heading where the adaptation text starts


def main() -> None:
    args = _parse()
    args.work.mkdir(parents=True, exist_ok=True)
    ot, nt = _texts(args)
    folder = _pretrained(args, ot)
    task = f"lm:{nt}?block={args.block}&split=80/10/10"
    rows = [_run(args, task, folder, name, spec, seed, adapters)
            for name, spec, seeds, adapters in _placements(args, folder, task) for seed in seeds]
    write_text_atomic(args.work / "lm_gga.json", json.dumps(rows, indent=2) + "\n")
    _table(rows)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/lm_gga"))
    p.add_argument("--text", type=Path, help="a dump of the KJV made with `bible " + VERSES + "`")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--pretrain-steps", type=int, default=600)
    p.add_argument("--steps", type=int, default=300, help="adapter training steps per run")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--ks", type=int, nargs="+", default=[2, 4])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    return p.parse_args()


def _texts(args) -> tuple[Path, Path]:
    """The Old and New Testament as text files of chapters (verse numbers removed)."""
    ot, nt = args.work / "ot.txt", args.work / "nt.txt"
    if ot.exists() and nt.exists():
        return ot, nt
    raw = args.text.read_text() if args.text else subprocess.run(
        ["bible", VERSES], check=True, capture_output=True, text=True).stdout
    text = re.sub(r"^\s*\d+ ", "", raw, flags=re.MULTILINE)  # "  3 And God said" -> "And God said"
    cut = text.index(f"\n{NEW_TESTAMENT}\n")
    write_text_atomic(ot, text[:cut].strip() + "\n")
    write_text_atomic(nt, text[cut:].strip() + "\n")
    return ot, nt


def _pretrained(args, ot: Path) -> Path:
    """A GPT-2-shaped decoder and BPE tokenizer trained on the Old Testament (full training), saved."""
    folder = args.work / f"gpt2-kjv-{args.layers}x{args.width}-{args.pretrain_steps}"
    if (folder / "config.json").exists():
        return folder
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train([str(ot)], trainers.BpeTrainer(vocab_size=args.vocab, special_tokens=["<|endoftext|>"],
                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(fast), n_positions=args.block, n_embd=args.width,
                                     n_layer=args.layers, n_head=4, bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.tensor(fast(ot.read_text())["input_ids"])
    blocks = ids[: len(ids) // args.block * args.block].view(-1, args.block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    tic = time.perf_counter()
    for step in range(args.pretrain_steps):
        batch = blocks[torch.randint(len(blocks), (32,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == args.pretrain_steps - 1:
            print(f"pretrain step {step}: loss {loss.item():.3f} ({time.perf_counter() - tic:.0f} s)", flush=True)
    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    fast.save_pretrained(partial)
    partial.rename(folder)
    return folder


def _placements(args, folder: Path, task: str) -> list[tuple[str, str, list[int], int]]:
    """``(name, spec text, seeds, adapters)``: frozen once, the baseline and each GGA pick for every seed."""
    sublayers = 2 * args.layers  # GPT-2 blocks have two residual merges
    out = [("frozen", "", [0], 0),
           ("baseline", f"for k in 0..{sublayers - 1} {{ parallel @{{k}} -> @{{k+1}} }}", args.seeds, sublayers)]
    scores = score_edges(f"hf:{folder}", load_task(task), ScoreConfig(batch_size=args.batch_size), progress=False)
    for k in args.ks:
        out.append((f"gga_k{k}", adaptgraph.dumps(select(scores, SelectConfig(k=k))), args.seeds, k))
    return out


def _run(args, task: str, folder: Path, name: str, spec_text: str, seed: int, adapters: int) -> dict:
    out = args.work / "runs" / f"{name}_s{seed}_{args.steps}"
    spec = adaptgraph.loads(spec_text)
    if (out / "metrics.json").exists():
        metrics = json.loads((out / "metrics.json").read_text())
    elif not spec.edges:  # nothing to train: evaluate the pretrained model as it is
        metrics = _frozen(folder, task)
    else:
        config = TrainConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=seed, device="cpu")
        metrics = train_spec(spec, task, backbone=f"hf:{folder}", config=config, out=out, progress=False).metrics
    row = {"method": name, "seed": seed, "adapters": adapters, "spec": spec_text,
           "val_ppl": metrics["validation"]["perplexity"], "test_ppl": metrics["test"]["perplexity"],
           "params": metrics.get("trainable_parameters", {}).get("model", 0),
           "seconds": metrics.get("timing", {}).get("total_seconds")}
    print(json.dumps(row), flush=True)
    return row


def _frozen(folder: Path, task: str) -> dict:
    from adaptgraph.backbones import get_backbone
    from adaptgraph.train import evaluate

    bb = get_backbone(f"hf:{folder}")
    bound = bind_task(load_task(task), bb)
    model, head = adaptgraph.compile(adaptgraph.loads(""), bb), bound.make_head(bb)
    config = TrainConfig(device="cpu")
    return {split: evaluate(model, head, bb, bound, split, config) for split in ("validation", "test")}


def _table(rows: list[dict]) -> None:
    print("| placement | adapters | trainable parameters | validation perplexity | test perplexity | seeds |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == name]
        val, test = (statistics.mean(r[k] for r in mine) for k in ("val_ppl", "test_ppl"))
        spread = f" ± {statistics.stdev(r['test_ppl'] for r in mine):.2f}" if len(mine) > 1 else ""
        print(f"| {name} | {mine[0]['adapters']} | {mine[0]['params']:,} | {val:.2f} | {test:.2f}{spread} | "
              f"{len(mine)} |")


if __name__ == "__main__":
    main()
