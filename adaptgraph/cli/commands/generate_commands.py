"""`generate`: continue prompts with a trained decoder run (or a spec's base model)."""
from __future__ import annotations

import argparse
import json
import sys
import warnings

from . import TRUST_CODE_HELP

EXAMPLES = """examples:
  adaptgraph generate runs/book --prompt "In the beginning" --max-new-tokens 40
  adaptgraph generate runs/book --prompt "And he said" --prompt "Blessed are" --temperature 0.8 --top-p 0.9 --seed 1
  adaptgraph generate base.adapt --backbone hf:models/my-gpt2 --prompt "Once" --json   # the base model

Greedy decoding unless --temperature > 0. Prompts are batched with left padding. On Hugging Face
decoders the model's key-value cache runs with the spec's adapters attached; specs it cannot serve
(recurrent edges) and backbones without a cache (zoo:gpt-tiny) recompute the whole sequence for
every token, and say so on stderr.
"""


def register(sub) -> None:
    p = sub.add_parser("generate", help="continue text prompts with a trained language-model run or a spec",
                       description="Continue each --prompt with a decoder: a run folder of `adaptgraph train` on "
                                   "an lm: task, an adapter file, or a .adapt spec (its base model).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="RUN_OR_SPEC", help="a run folder, an adapter .safetensors file or a .adapt spec")
    p.add_argument("--prompt", action="append", required=True, metavar="TEXT", help="a prompt (repeat for a batch)")
    p.add_argument("--max-new-tokens", type=int, default=32, metavar="N", help="new tokens per prompt (default 32)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 (default) is greedy; above 0 samples")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: keep the likeliest tokens up to "
                                                           "this probability (needs --temperature)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--no-cache", action="store_true", help="recompute the whole sequence for every token")
    p.add_argument("--backbone", metavar="REF", help="override the run's or spec's backbone")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--json", action="store_true", help='print {"outputs": [{"prompt", "text", "token_ids"}], ...}')
    p.set_defaults(run=run_generate)


def run_generate(args) -> int:
    from ...generation import FullRecomputationWarning, generate, open_generator

    model, bb = open_generator(args.source, args.backbone, trust_code=args.trust_code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FullRecomputationWarning)  # said once below, on one line
        done = generate(model, args.prompt, backbone=bb, max_new_tokens=args.max_new_tokens,
                        temperature=args.temperature, top_p=args.top_p, seed=args.seed, cache=not args.no_cache)
    if done.notice and not args.no_cache:
        print(f"note: {done.notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(done.to_dict(), indent=2))
        return 0
    for out in done.outputs:
        print(f"{out.prompt}\n  -> {out.text}")
    return 0
