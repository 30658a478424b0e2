"""The paper protocol end to end at tiny scale: every script, its CSV columns and figures, the report, resuming.

Runs the modules of ``benchmarks.paper`` in this process (their ``main(argv)``) on
``zoo:bert-tiny`` with two 3-class WordNet tasks and a few training steps, into tmp_path.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

MODULES = ("common", "runstore", "placement_sweep", "map_repeat", "random_vs_baseline", "gga_by_norm",
           "rank_predicts", "gga_vs_baseline", "cost", "beyond", "report")
TASKS = ("wordnet:noun.animal,noun.food,noun.plant?per_class=30",
         "wordnet:noun.animal,noun.food,noun.artifact?per_class=30")

pytestmark = pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="WordNet is not installed")


@pytest.fixture(scope="module")
def paper():
    """The protocol's modules, by name."""
    return {name: importlib.import_module(f"benchmarks.paper.{name}") for name in MODULES}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, paper):
    """Every script run once at tiny scale; returns the argv and the output folders."""
    out = tmp_path_factory.mktemp("paper")
    argv = ["--backbone", "zoo:bert-tiny", *[a for t in TASKS for a in ("--task", t)], "--fidelity-steps", "3",
            "--steps", "3", "--sample", "5", "--repeat-sample", "3", "--seeds", "0", "1", "--draws", "2", "--ks", "1", "2",
            "--evolve-trials", "2", "--repeats", "1", "--score-batches", "1", "--workers", "1",
            "--results", str(out / "results"), "--runs", str(out / "runs"), "--doc", str(out / "results.md")]
    for script in ("placement_sweep", "map_repeat", "random_vs_baseline", "rank_predicts", "gga_vs_baseline",
                   "gga_by_norm", "cost", "beyond", "report"):
        paper[script].main(argv)
    return argv, out


@pytest.mark.slow
def test_every_csv_has_its_columns_and_rows(tiny, paper):
    _, out = tiny
    read = paper["common"].read_csv
    expected = {
        "placement_sweep": paper["placement_sweep"].SWEEP_COLUMNS,
        "placement_retrain": paper["placement_sweep"].RETRAIN_COLUMNS,
        "placement_repeat": paper["map_repeat"].COLUMNS,
        "placement_loss_retrain": paper["placement_sweep"].RETRAIN_COLUMNS,
        "random_vs_baseline": paper["random_vs_baseline"].COLUMNS,
        "rank_predicts": paper["rank_predicts"].CORRELATION_COLUMNS,
        "rank_predicts_edges": paper["rank_predicts"].EDGE_COLUMNS,
        "gga_vs_baseline": paper["gga_vs_baseline"].COLUMNS,
        "beyond": paper["beyond"].COLUMNS,
        "evolve": paper["gga_vs_baseline"].EVOLVE_COLUMNS,
        "gga_by_norm": paper["gga_vs_baseline"].COLUMNS,
        "cost": paper["cost"].COLUMNS,
    }
    for name, columns in expected.items():
        rows = read(out / "results" / f"{name}.csv")
        assert rows, name
        assert tuple(rows[0]) == tuple(columns), name
    sweep = read(out / "results" / "placement_sweep.csv")
    for task in TASKS:  # 5 sampled edges, then best, worst and probe with both seeds
        assert len([r for r in sweep if r["task"] == task and r["role"] == "edge"]) == 5
        assert len([r for r in sweep if r["task"] == task and r["role"] != "edge"]) == 6
        assert all(r["test_acc"] != "" for r in read(out / "results" / "placement_retrain.csv"))
    repeat = read(out / "results" / "placement_repeat.csv")
    for task in TASKS:  # 3 of the 5 swept edges, with seeds 0 (the sweep's runs, read back) and 1
        assert sorted(r["seed"] for r in repeat if r["task"] == task) == ["0", "0", "0", "1", "1", "1"]
        swept = {r["edges"]: r["val_acc"] for r in sweep if r["task"] == task and r["role"] == "edge"}
        assert all(swept[r["edges"]] == r["val_acc"] for r in repeat if r["task"] == task and r["seed"] == "0")
    by_loss = read(out / "results" / "placement_loss_retrain.csv")
    for task in TASKS:  # the lowest- and highest-loss swept edges, both seeds, tested
        lows = [r for r in sweep if r["task"] == task and r["role"] == "edge"]
        low = min(lows, key=lambda r: float(r["train_loss"]))["edges"]
        assert {(r["role"], r["edges"]) for r in by_loss if r["task"] == task} >= {("low_loss", low)}
        assert len([r for r in by_loss if r["task"] == task and r["test_acc"] != ""]) == 4
    gga = read(out / "results" / "gga_vs_baseline.csv")
    assert {(r["method"], r["k"]) for r in gga} == {("gga", "1"), ("gga", "2"), ("topk", "1"), ("topk", "2"),
                                                    ("random", "1"), ("random", "2"), ("baseline", "8"),
                                                    ("probe", "0")}
    assert len(read(out / "results" / "random_vs_baseline.csv")) == 2 * (2 + 2)  # per task: 2 draws, 2 seeds
    norm = read(out / "results" / "gga_by_norm.csv")  # per task: k in {1, 2}, 2 seeds each
    assert sorted((r["k"], r["seed"]) for r in norm if r["task"] == TASKS[0]) == [("1", "0"), ("1", "1"),
                                                                                   ("2", "0"), ("2", "1")]


@pytest.mark.slow
def test_figures_and_the_commands_that_made_them(tiny, paper):
    argv, out = tiny
    for name in ("placement_heatmaps", "placement_loss_heatmaps", "placement_tasks", "placement_repeat",
                 "random_vs_baseline", "rank_predicts", "gga_vs_baseline",
                 "cost"):
        png = out / "results" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    meta = paper["common"].read_meta(out / "results", "gga_vs_baseline")
    assert meta["command"] == paper["common"].command("gga_vs_baseline", argv)


@pytest.mark.slow
def test_report_has_every_claim_with_a_verdict_and_its_command(tiny, paper):
    argv, out = tiny
    text = (out / "results.md").read_text()
    sections = text.split("\n## ")[1:]
    titles = [s.splitlines()[0] for s in sections]
    assert titles == [f"Claim {n}: {paper['report'].CLAIMS[n][0]}" for n in (1, 2, 3, 4)] + [
        "Cost: scoring, training, and the second pass of recurrent edges",
        "Beyond the paper: gradient-aligned initialisation, allocated ranks, other scores",
        "Beside PEFT: LoRA on a pretrained decoder",
        "Planted placements: can the scores, GGA and the search find adapters whose places are known?",
        "The multi-fidelity search against random picks at equal compute", "Regenerating everything"]
    for section in sections[:4]:
        verdict = section.split("**Verdict: ")[1].split(".**")[0]
        assert verdict in ("holds", "partly", "does not hold here", "not measured")
        assert "*Rule:*" in section and "Regenerate: `python -m benchmarks.paper." in section
    assert "Not run yet" not in text.split("\n## Beside PEFT")[0]  # benchmarks/lm_peft.py is not the protocol's
    for script in ("placement_sweep", "map_repeat", "random_vs_baseline", "rank_predicts", "gga_vs_baseline",
                   "gga_by_norm", "cost", "beyond"):
        assert paper["common"].command(script, argv) in text
    assert "Does any automatic method beat random picks by more than the seed spread?" in text
    assert "](results/placement_heatmaps.png)" in text
    assert "Is the map reproducible?" in text and "lowest-loss edge" in text and "GGA on Frobenius norm" in text


@pytest.mark.slow
def test_rerunning_skips_finished_work_and_retrains_a_killed_run(tiny, paper, capsys):
    argv, out = tiny
    capsys.readouterr()
    paper["gga_vs_baseline"].main(argv)
    paper["cost"].main(argv)
    printed = capsys.readouterr().out
    counts = [line for line in printed.splitlines() if "already finished" in line]
    assert counts and all(line.endswith(", 0 to train") for line in counts), printed
    assert "timing" not in printed  # cost.py kept its measurements

    probe = next(r for r in paper["common"].read_csv(out / "results" / "placement_sweep.csv")
                 if r["role"] == "probe" and r["seed"] == "1")
    killed = next((out / "runs").glob(f"*/*-trial-*/{probe['spec_hash']}-s1"))  # a sweep-check run, killed
    (killed / "outcome.json").unlink()
    paper["placement_sweep"].main(argv)
    printed = capsys.readouterr().out
    assert any(line.endswith(", 1 to train") for line in printed.splitlines()), printed
    assert (killed / "outcome.json").exists()
