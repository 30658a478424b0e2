"""The "Beside PEFT" section's answers follow its printed rules (synthetic rows, no training)."""
from __future__ import annotations

from benchmarks.paper import lm_peft_report

META = {"folder": "gpt2-kjv", "command": "python -m benchmarks.lm_peft",
        "settings": {"layers": 2, "width": 64, "vocab": 2048, "pretrain_steps": 300, "steps": 150, "batch_size": 16,
                     "lr": 0.003, "seeds": [0, 1, 2]},
        "speed": {"step_seconds": {"ours": 0.09, "peft": 0.10}, "step_time_ratio": 0.9,
                  "generate_tokens_per_second": {"ours": 150.0, "peft": 200.0}, "generate_ratio": 0.75,
                  "cpu_seconds": {"ours_step": [0.09] * 5}, "batch": [16, 64], "prompt_tokens": 16, "new_tokens": 64}}


def rows(ours, peft, gga):
    return [{"method": m, "seed": s, "params": 4096, "val_ppl": v + 1, "test_ppl": v, "spec": "edge @0 -> @2"}
            for m, values in (("ours_lora", ours), ("peft_lora", peft), ("gga", gga)) for s, v in enumerate(values)]


def test_answers_follow_the_rules():
    text = lm_peft_report.section(rows([100.0, 100.4, 99.8], [100.3, 100.1, 100.5], [98.0, 98.2, 98.1]), META,
                                  "provenance", "cmd")
    assert "adaptgraph LoRA vs PEFT LoRA, quality: within the seed spread** (test perplexity 100.07 vs 100.30, " \
           "difference -0.23, larger seed spread 0.60)" in text
    assert "Training step time, adaptgraph / PEFT: 0.90** (meets the bar of 1.0)" in text
    assert "Generation, adaptgraph / PEFT tokens per second: 0.75** (misses the bar of 0.8)" in text
    assert "GGA edges vs LoRA at the same budget: GGA better** (test perplexity 98.10 vs 100.07" in text
    text = lm_peft_report.section(rows([100.0, 100.1, 100.0], [101.0, 101.1, 101.0], [101.0, 101.1, 101.2]), META,
                                  "provenance", "cmd")
    assert "quality: ours_lora better** (test perplexity 100.03 vs 101.03" in text
    assert "GGA edges vs LoRA at the same budget: LoRA better**" in text


def test_without_a_csv_it_says_how_to_run_it():
    text = lm_peft_report.section(None, None, "", lm_peft_report.command(None))
    assert "**Not run yet.** Run `python -m benchmarks.lm_peft` (resumable), then the report." in text


def test_the_step_ratio_spread_is_reported_when_recorded():
    data = rows([100.0] * 3, [100.0] * 3, [100.0] * 3)
    assert "quartiles" not in lm_peft_report.section(data, META, "", "cmd")  # an older run without them
    meta = {**META, "speed": {**META["speed"], "step_ratio_quartiles": [0.881, 1.0, 1.157]}}
    text = lm_peft_report.section(data, meta, "", "cmd")
    assert "every other round in the reverse order" in text
    assert "has quartiles 0.88, 1.00, 1.16 over the rounds." in text
    assert "(meets the bar of 1.0; but the middle half of the rounds' ratios spans 1.0: a tie" in text
    meta["speed"]["step_ratio_quartiles"] = [0.8, 0.85, 0.9]
    assert "(meets the bar of 1.0)" in lm_peft_report.section(data, meta, "", "cmd")
