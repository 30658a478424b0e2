"""The "Beside PEFT" section of docs/results.md, from ``lm_peft.csv`` and ``lm_peft.meta.json`` only.

Called by ``report.py``; the runs are ``benchmarks/lm_peft.py``'s. Each question is answered by the
rule printed beside it, written before the run; without the CSV the section says how to run it.
"""
from __future__ import annotations

from typing import Optional

from .analysis import floats, spread, where

EXPERIMENT = "lm_peft"
TITLE = "## Beside PEFT: LoRA on a pretrained decoder"
METHODS = {"ours_lora": "adaptgraph LoRA (`parallel h.*.attn.c_attn`, r 8)",
           "peft_lora": "PEFT LoRA (`c_attn`, r 8, alpha 16)",
           "gga": "adaptgraph GGA edges, at most LoRA's parameters"}
RULES = ("*Rules (fixed before the run):* perplexities agree when their means differ by no more than the larger "
         "seed spread (max - min over seeds) of the two; one method is better when its mean is lower by more "
         "than that. Speed: adaptgraph's training step may take at most PEFT's time (ratio <= 1.0), and its "
         "generation must reach at least 0.8x PEFT's tokens per second.")


def command(meta: Optional[dict]) -> str:
    """The command that ran (or runs) the comparison."""
    return meta["command"] if meta else "python -m benchmarks.lm_peft"


def section(rows: Optional[list[dict]], meta: Optional[dict], provenance: str, command: str) -> str:
    """The whole section as Markdown."""
    intro = ("adaptgraph against Hugging Face PEFT on `benchmarks/lm_gga.py`'s decoder: a GPT-2-shaped model and "
             "BPE tokenizer pretrained here on the Old Testament of the King James Bible, adapted on the New "
             "Testament (blocks of 64 tokens, 80/10/10 in file order). Same steps, batch, learning rate, "
             "schedule, batches and seeds for every method (see the script's docstring). For GPT-2, LoRA on "
             "q/v is LoRA on `c_attn`, the fused q, k, v projection.")
    if not rows or not meta:
        return "\n\n".join([TITLE, intro, f"**Not run yet.** Run `{command}` (resumable), then the report.", RULES])
    s = meta["settings"]
    setup = (f"Decoder `{meta['folder']}` ({s['layers']} blocks of width {s['width']}, {s['vocab']:,}-token "
             f"vocabulary, {s['pretrain_steps']} pretraining steps); {s['steps']} adapter steps per run, batch "
             f"{s['batch_size']}, learning rate {s['lr']}, seeds {s['seeds']}. Per run: "
             f"`docs/results/{EXPERIMENT}.csv`.")
    return "\n\n".join([TITLE, intro, setup, _answers(rows, meta), RULES, _table(rows), _speed(meta),
                        _gga_spec(rows), provenance])


def _stats(rows: list[dict], method: str, key: str = "test_ppl"):
    return spread(floats(where(rows, method=method), key))


def _compare(rows: list[dict], a: str, b: str) -> tuple[str, str]:
    """``(word, why)``: ``a``'s test perplexity against ``b``'s by the rule."""
    x, y = _stats(rows, a), _stats(rows, b)
    allowed = max(x.hi - x.lo, y.hi - y.lo)
    diff = x.mean - y.mean
    word = "agree" if abs(diff) <= allowed else (f"{a} better" if diff < 0 else f"{b} better")
    return word, f"test perplexity {x.mean:.2f} vs {y.mean:.2f}, difference {diff:+.2f}, larger seed spread {allowed:.2f}"


def _answers(rows: list[dict], meta: dict) -> str:
    speed = meta["speed"]
    same, same_why = _compare(rows, "ours_lora", "peft_lora")
    gga, gga_why = _compare(rows, "gga", "ours_lora")
    step, gen = speed["step_time_ratio"], speed["generate_ratio"]
    return "\n".join([
        f"- **adaptgraph LoRA vs PEFT LoRA, quality: {'within the seed spread' if same == 'agree' else same}** "
        f"({same_why}).",
        f"- **Training step time, adaptgraph / PEFT: {step:.2f}** ({'meets' if step <= 1.0 else 'misses'} the bar "
        f"of 1.0{_straddles(speed)}).",
        f"- **Generation, adaptgraph / PEFT tokens per second: {gen:.2f}** ({'meets' if gen >= 0.8 else 'misses'} "
        "the bar of 0.8).",
        f"- **GGA edges vs LoRA at the same budget: {_gga_word(gga)}** ({gga_why})."])


def _straddles(speed: dict) -> str:
    """A warning when the middle half of the rounds' step ratios lies on both sides of 1.0."""
    q = speed.get("step_ratio_quartiles")
    return "; but the middle half of the rounds' ratios spans 1.0: a tie within this machine's noise" \
        if q is not None and q[0] < 1.0 < q[2] else ""


def _gga_word(word: str) -> str:
    return {"agree": "within the seed spread", "gga better": "GGA better", "ours_lora better": "LoRA better"}[word]


def _table(rows: list[dict]) -> str:
    lines = ["| method | trainable parameters | validation perplexity | test perplexity: mean ± sd (min-max) | seeds |",
             "|---|---|---|---|---|"]
    for method, label in METHODS.items():
        test, val = _stats(rows, method), _stats(rows, method, "val_ppl")
        if test is None:
            continue
        params = int(float(where(rows, method=method)[0]["params"]))
        lines.append(f"| {label} | {params:,} | {val.mean:.2f} | {test.mean:.2f} ± {test.sd:.2f} "
                     f"({test.lo:.2f}-{test.hi:.2f}) | {test.n} |")
    return "\n".join(lines)


def _speed(meta: dict) -> str:
    speed = meta["speed"]
    step, gen = speed["step_seconds"], speed["generate_tokens_per_second"]
    batch = "x".join(str(x) for x in speed["batch"])
    return "\n".join([
        f"Speed, by CPU time on one thread (median of {len(speed['cpu_seconds']['ours_step'])} interleaved repeats"
        f"{', every other round in the reverse order' if 'step_ratio_quartiles' in speed else ''}, after a warm-up "
        "round):", "",
        "| measure | adaptgraph | PEFT | adaptgraph / PEFT |", "|---|---|---|---|",
        f"| training step (batch {batch} tokens), CPU seconds | {step['ours']:.3f} | {step['peft']:.3f} | "
        f"{speed['step_time_ratio']:.2f} |",
        f"| generation ({speed['prompt_tokens']}-token prompt, {speed['new_tokens']} new tokens, batch 1), tokens per "
        f"CPU second | {gen['ours']:.1f} | {gen['peft']:.1f} | {speed['generate_ratio']:.2f} |"] + _pairs(speed))


def _pairs(speed: dict) -> list[str]:
    """The spread of the step ratio over rounds (each round times both steps back to back), when recorded."""
    q = speed.get("step_ratio_quartiles")
    return [] if q is None else ["", f"The step time ratio of one round (adaptgraph's step over PEFT's, timed back "
                                     f"to back) has quartiles {q[0]:.2f}, {q[1]:.2f}, {q[2]:.2f} over the rounds."]


def _gga_spec(rows: list[dict]) -> str:
    spec = where(rows, method="gga")[0]["spec"] if where(rows, method="gga") else ""
    return (f"GGA's edges (from gradient-rank scores under the LM loss, 4 batches of 16 blocks): `{spec}`. An edge "
            "`@j -> @i` with j > i is recurrent: it trains and evaluates like the others, but generation with it "
            "recomputes the whole sequence for every token (no key-value cache).")
