"""`train` and `eval`: training runs on real tasks."""
from __future__ import annotations

import argparse
import json
import sys

from ..number_flags import Choices
from . import NO_PROGRESS_HELP, TRUST_CODE_HELP

EXAMPLES_TRAIN = """examples:
  adaptgraph train specs/minilm_gga4.adapt --task 'wordnet:noun?per_class=120' --out runs/gga4
  adaptgraph train empty.adapt --backbone hf:minilm --task wordnet:noun --out runs/probe   # linear probe
  adaptgraph train my.adapt --backbone zoo:vit-tiny --task digits --epochs 5 --lr 3e-3 --out runs/d
  torchrun --nproc-per-node 2 -m adaptgraph train my.adapt --task csv:data.csv --out runs/ddp
  adaptgraph train my.adapt --backbone zoo:gpt-tiny --task 'lm:book.txt?block=64' --out runs/lm   # perplexity
  adaptgraph train empty.adapt --backbone hf:my-llama --task lm:book.txt --out runs/base   # the frozen base's

A spec with nothing to train (no adapters, no `train`) on an lm: task takes no step: the run holds
the frozen model's validation and test perplexity. `train lm_head` trains a causal LM's own head.

task references: wordnet:noun | wordnet:all | wordnet:noun.animal,verb.motion (add ?per_class=N),
  csv:PATH?text=COL&label=COL[&validation=PATH&test=PATH], jsonl:PATH?..., digits[?size=N],
  lm:PATH[?block=128&split=90/5/5&max_blocks=N] (next-token prediction on a text, decoders only),
  lm:FILE.jsonl?prompt=KEY&response=KEY or ?messages=KEY (instruction data: the loss on the responses only)
"""
EXAMPLES_EVAL = """examples:
  adaptgraph eval runs/gga4                 # the test split, on the task the run was trained on
  adaptgraph eval runs/gga4 --split validation --json
"""


def register(sub) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("train", help="train a spec's adapters (and a task head) on a task",
                       description="Compile SPEC, train its adapters and a task head on TASK, evaluate the test "
                                   "split once with the best validation checkpoint, and save the run to --out "
                                   "(default: a new folder runs/train-YYYYmmdd-HHMMSS, printed at the end).",
                       epilog=EXAMPLES_TRAIN, formatter_class=raw)
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--task", required=True, metavar="TASK")
    p.add_argument("--backbone", metavar="REF", help="override the spec's backbone")
    p.add_argument("--out", metavar="DIR", help="run folder (adapters, metrics, log, spec); default: a new "
                                                "runs/train-YYYYmmdd-HHMMSS")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps", type=int, help="optimiser steps instead of epochs")
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int, help="longest token sequence (text tasks)")
    p.add_argument("--seed", type=int, help="seed of adapters, head and shuffling (default 0)")
    p.add_argument("--task-seed", type=int, default=0, help="seed of the task's split (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--amp", choices=Choices("adaptgraph.train.config", "AMP_MODES"), metavar="MODE",
                   help="mixed precision on CUDA: %(choices)s")
    p.add_argument("--checkpointing", action="store_true",
                     help="activation checkpointing per backbone block: less memory, one more forward, same gradients")
    p.add_argument("--torch-compile", action="store_true",
                     help="run training steps under torch.compile: a one-off compile (reported), then faster "
                          "steps; the same results within float rounding")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    p.add_argument("--json", action="store_true", help="print metrics.json, with run_dir: the run's folder")
    p.set_defaults(run=run_train)

    p = sub.add_parser("eval", help="evaluate a finished training run again",
                       description="Reload a finished run folder (its adapters, head, backbone and task) and "
                                   "evaluate one split: on the test split it reproduces the test accuracy (and "
                                   "an lm: task's perplexity) that train reported, exactly.",
                       epilog=EXAMPLES_EVAL, formatter_class=raw)
    p.add_argument("run_dir", metavar="DIR", help="a finished `adaptgraph train` run folder (--out of train)")
    p.add_argument("--task", metavar="TASK", help="default: the task the run was trained on")
    p.add_argument("--split", default="test", choices=Choices("adaptgraph.tasks", "SPLITS"), metavar="SPLIT",
                   help="%(choices)s (default test)")
    p.add_argument("--backbone", metavar="REF", help="default: the run's backbone")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.set_defaults(run=run_eval)


def run_train(args) -> int:
    from ...train import RunOutput, train_config, train_spec
    from ...train.distributed import is_main_process

    config = train_config(epochs=args.epochs, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                          max_length=args.max_length, seed=args.seed, device=args.device, amp=args.amp,
                          checkpointing=args.checkpointing or None,
                          torch_compile=args.torch_compile or None)
    out = args.out or _new_run_folder()
    try:
        result = train_spec(args.spec, args.task, backbone=args.backbone, config=config,
                            out=RunOutput(out, overwrite=args.overwrite), task_seed=args.task_seed,
                            trust_code=args.trust_code,
                            progress=False if args.no_progress else None)
    except BaseException:
        if args.out is None:
            from ...fileio.folder_claims import discard_if_unused

            discard_if_unused(out, out.made)  # and runs/ too, when this run made it
        raise
    if not is_main_process():
        return 0
    m = result.metrics
    if args.json:
        print(json.dumps({**m, "run_dir": str(out)}, indent=2, sort_keys=True))  # where a script finds the run
        print(f"saved to {out}", file=sys.stderr)
        return 0
    val = m["validation"]["accuracy"] if m.get("validation") else float("nan")
    print(f"task {m['task']} ({_task_size(m)}) on {m['backbone']}")
    if m.get("scored_tokens"):  # an lm: task: the tokens its loss counts (responses only for instruction data)
        t = m["scored_tokens"]
        print(f"scored tokens: {t['train']:,} train, {t['validation']:,} validation, {t['test']:,} test")
    print(f"trainable parameters: {m['trainable_parameters']['model']:,} in adapters + "
          f"{m['trainable_parameters']['head']:,} in the head")
    best = (f"best epoch {m['best_epoch']} of {m['epochs']}" if m["steps"] else
            "nothing trains (no adapters, no `train` modules): the frozen model's numbers")
    if m.get("test_perplexity") is not None:  # an lm: task: perplexity first, accuracy is the next token's
        val = m["validation"]["perplexity"] if m.get("validation") else float("nan")
        print(f"{best}: validation perplexity {val:.3f}")
        print(f"test perplexity {m['test_perplexity']:.3f} (next-token accuracy {m['test_accuracy']:.4f})")
    else:
        print(f"{best}: validation accuracy {val:.4f}")
    if m.get("test_accuracy") is not None and m.get("test_perplexity") is None:
        print(f"test accuracy {m['test_accuracy']:.4f}")
    compiled = m["timing"].get("torch_compile")
    if compiled:
        print(f"torch.compile: first step {compiled['first_step_seconds']:.2f} s (about "
              f"{compiled['compile_seconds']:.2f} s compiling), later steps {compiled['median_step_seconds']:.3f} s")
    print(f"saved to {out}")
    return 0


def _task_size(m: dict) -> str:
    """An lm: task's classes are its vocabulary and its examples blocks of tokens; say so."""
    if m.get("instruction"):  # instruction data: one example a sequence, cut to the block
        return (f"vocabulary of {m['num_classes']:,} tokens, {m['train_examples']:,} training examples of at most "
                f"{m['block_tokens']} tokens")
    if m.get("block_tokens") is not None:
        return (f"vocabulary of {m['num_classes']:,} tokens, {m['train_examples']:,} training blocks of "
                f"{m['block_tokens']} tokens")
    return f"{m['num_classes']} classes, {m['train_examples']:,} training examples"


def _new_run_folder():
    """Where a run without --out goes: a new runs/train-YYYYmmdd-HHMMSS (one process; torchrun needs --out)."""
    from ...errors import UsageError
    from ...fileio.folder_claims import new_run_folder
    from ...train.distributed import launch

    if launch()[1] > 1:
        raise UsageError("under torchrun, train needs --out DIR: every process must name the same run folder",
                         hint="add --out runs/NAME")
    return new_run_folder("train")


def run_eval(args) -> int:
    from ...train import evaluate_run

    r = evaluate_run(args.run_dir, args.task, args.split, backbone=args.backbone, trust_code=args.trust_code,
                     progress=False if args.no_progress else None)
    if args.json:
        print(json.dumps(r, indent=2))
    elif "perplexity" in r:
        print(f"{r['split']} perplexity {r['perplexity']:.3f} (loss {r['loss']:.4f} per token, next-token "
              f"accuracy {r['accuracy']:.4f}, {r['n']} examples, {r['tokens']:,} scored tokens)")
    else:
        print(f"{r['split']} accuracy {r['accuracy']:.4f} (loss {r['loss']:.4f}, {r['n']} examples)")
    return 0
