"""Issue 22's benchmarks end to end at tiny scale: planted placements (scores, GGA, the multi-fidelity search)
and the equal-compute comparison, their CSVs, resuming, the report's sections and the rules."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=30"
COMMON = ["--backbone", "zoo:bert-tiny", "--task", TASK, "--workers", "1", "--score-batches", "1"]
EQUAL = ["--steps", "9", "--ks", "2", "--budgets", "2", "--seeds", "0", "1"]  # the equal-compute plan, tiny

wordnet = pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="WordNet is not installed")


@pytest.fixture(scope="module")
def paper():
    return {n: importlib.import_module(f"benchmarks.paper.{n}")
            for n in ("common", "planted", "equal_compute", "report", "verdicts")}


@pytest.fixture(scope="module")
def ran(tmp_path_factory, paper):
    out = tmp_path_factory.mktemp("issue22")
    where = ["--results", str(out / "results"), "--runs", str(out / "runs"), "--doc", str(out / "results.md")]
    planted = COMMON + ["--draws", "2", "--methods", "scores", "hyperband", "trained", "--candidates", "4", "--min-steps", "2",
                        "--max-steps", "6", "--steps", "3", *where]
    lm = (["--lm-layers", "2", "--lm-width", "32", "--lm-pretrain-steps", "2", "--lm-work", str(out / "lm")]
          if shutil.which("bible") else ["--no-lm"])  # the causal-LM task's text comes from Debian's bible-kjv
    equal = COMMON + EQUAL + [*lm, *where]
    paper["planted"].main(planted)
    paper["equal_compute"].main(equal)
    paper["report"].main(where)
    return out, planted, equal


@wordnet
@pytest.mark.slow
def test_planted_rows_recover_what_was_planted(ran, paper):
    out, *_ = ran
    rows = paper["common"].read_csv(out / "results" / "planted.csv")
    assert tuple(rows[0]) == paper["planted"].COLUMNS
    methods = ["top_rank", "top_erank", "top_fro", "top_nuclear", "gga", "hyperband", "oracle", "random_k"]
    assert [(r["draw"], r["method"]) for r in rows] == [(d, m) for d in "01" for m in methods]
    for r in rows:
        planted, picked = set(r["planted"].split()), set(r["picked"].split())
        assert len(planted) == 4 and int(r["hits"]) == len(planted & picked)
        assert float(r["recovered"]) == int(r["hits"]) / 4 and float(r["chance"]) == pytest.approx(4 / 81)
        assert len(picked) == 4 or r["method"] == "hyperband"  # the search may keep fewer adapters
        assert (r["percentile"] != "") == r["method"].startswith("top_")
        assert (r["search_steps"] != "") == (r["method"] == "hyperband")
        trained = r["method"] in ("oracle", "random_k")  # the control: students trained on their edges, tested
        assert (r["test_acc"] != "" and r["train_steps"] == "3") == trained
        assert (r["method"] != "oracle") or picked == planted
    kinds = {kind for r in rows for kind in r["planted_kinds"].split()}
    assert kinds <= {"sequential", "parallel", "longrange", "recurrent"} and len(kinds) >= 2


@wordnet
@pytest.mark.slow
def test_equal_compute_spends_what_it_says(ran, paper):
    out, *_ = ran
    rows = paper["common"].read_csv(out / "results" / "equal_compute.csv")
    assert tuple(rows[0]) == paper["equal_compute"].COLUMNS
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    assert tasks[0] == TASK and len(tasks) == (2 if shutil.which("bible") else 1)
    assert sorted((r["task"], r["method"], r["seed"]) for r in rows) == sorted(
        (t, m, s) for t in tasks for m in ("random_k", "gga_rank", "baseline", "hyperband", "random_search")
        for s in "01")
    assert all(float(r["test_ppl"]) > 1 for r in rows if r["task"].startswith("lm:"))  # judged by perplexity
    for task, seed in [(t, s) for t in tasks for s in "01"]:
        mine = {r["method"]: r for r in rows if r["seed"] == seed and r["task"] == task}
        search = int(mine["hyperband"]["search_steps"])
        assert 0 < search and int(mine["random_search"]["search_steps"]) == 9 * max(1, round(search / 9))
        assert all(r["test_loss"] != "" and r["final_steps"] == "9" for r in mine.values())


@wordnet
@pytest.mark.slow
def test_search_pairs_in_parallel_give_the_rows_of_one_worker(ran, paper, tmp_path):
    """--workers 2 runs two (k, budget, seed) search pairs at once, each in its own process: the rows (all but
    their seconds) are those of one worker, in the same order, and the meta says it ran in one go."""
    out, *_ = ran
    where = ["--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs"), "--doc", str(tmp_path / "r.md")]
    two = [a if a != "1" or COMMON[i - 1] != "--workers" else "2" for i, a in enumerate(COMMON)]
    paper["equal_compute"].main(two + EQUAL + ["--no-lm", *where])

    def rows(folder):
        return [{c: v for c, v in r.items() if c != "seconds"} for r in
                paper["common"].read_csv(folder / "results" / "equal_compute.csv") if r["task"] == TASK]

    assert "--workers 2" in " ".join(two) and rows(tmp_path) == rows(out)
    meta = paper["common"].read_meta(tmp_path / "results", "equal_compute")
    assert meta["schedule"] == "parallel" and meta["resumed"] is False and list(meta["task_wall_seconds"]) == [TASK]


@wordnet
@pytest.mark.slow
def test_rerun_trains_nothing_and_the_report_has_both_sections(ran, paper, capsys):
    out, planted, equal = ran
    before = {n: (out / "results" / f"{n}.csv").read_text() for n in ("planted", "equal_compute")}
    capsys.readouterr()
    paper["planted"].main(planted)
    paper["equal_compute"].main(equal)
    printed = capsys.readouterr().out
    assert "planted k=" not in printed and "hyperband k=" not in printed  # every row read back
    assert {n: (out / "results" / f"{n}.csv").read_text() for n in before} == before
    text = (out / "results.md").read_text()
    assert "## Planted placements: can the scores" in text and "can the scores see placement at all?" in text
    assert "**Control, k = 4: does placement matter in the planted task?" in text
    assert "| oracle |" not in text  # the control is not a method that looks for the planted edges
    assert "## The multi-fidelity search against random picks at equal compute" in text
    assert "Does the multi-fidelity search beat random picks at equal compute?" in text
    for script, argv in (("planted", planted), ("equal_compute", equal)):
        assert paper["common"].command(script, argv) in text


def test_planted_p_value_is_exact(paper):
    v = paper["verdicts"]
    assert v.hits_p_value([0, 0], 2, 10) == 1.0
    # one draw, k = 2 of 10: P(2 hits) = 1 / C(10, 2)
    assert v.hits_p_value([2], 2, 10) == pytest.approx(1 / 45)
    assert v.hits_p_value([1], 2, 10) == pytest.approx(1 - 28 / 45)  # P(>= 1) = 1 - C(8,2)/C(10,2)


def test_planted_control_rule(paper):
    v = paper["verdicts"]
    assert v.sign_test_p(0, 0) == 1.0 and v.sign_test_p(3, 0) == pytest.approx(1 / 8)
    assert v.sign_test_p(9, 1) == pytest.approx(11 / 1024)  # P(>= 9 of 10)

    def rows(oracle, random):
        return [{"k": "4", "draw": str(d), "method": m, "test_acc": str(x)}
                for d, (a, b) in enumerate(zip(oracle, random)) for m, x in (("oracle", a), ("random_k", b))]

    assert v.planted_control(rows([0.5] * 8, [0.4] * 8), 4).word == v.MATTERS  # 8 of 8: p = 1/256
    same = v.planted_control(rows([0.5] * 8, [0.5] * 8), 4)
    assert same.word == v.NO_MATTER and "the same on 8 of 8 draws" in same.why
    assert v.planted_control(rows([0.5, 0.4] * 5, [0.4, 0.5] * 5), 4).word == v.NO_MATTER
    assert v.planted_control([], 4) is None


def test_equal_compute_rules(paper):
    v = paper["verdicts"]

    def rows(method, values, **extra):
        return [{"task": "t", "method": method, "k": "4", "budget": "2", "seed": str(s), "test_acc": str(x),
                 "test_ppl": "", **extra} for s, x in enumerate(values)]

    search = rows("hyperband", [0.70, 0.71, 0.72])
    assert v.cell_outcome(search + rows("random_search", [0.60, 0.61, 0.62]), "t", 4, 2, "random_search") == "beats"
    assert v.cell_outcome(search + rows("random_k", [0.69, 0.71, 0.73], budget=""), "t", 4, 2, "random_k") == "ties"
    assert v.cell_outcome(search + rows("baseline", [0.8, 0.81], k="", budget=""), "t", 4, 2, "baseline") == "loses"
    lm = [dict(r, test_acc="", test_ppl=str(p)) for r, p in zip(rows("hyperband", [0, 0, 0]), (10, 10.5, 11))]
    other = [dict(r, test_acc="", test_ppl=str(p)) for r, p in zip(rows("random_search", [0, 0, 0]), (20, 21, 22))]
    assert v.cell_outcome(lm + other, "t", 4, 2, "random_search") == "beats"  # lower perplexity is better
    verdict = v.equal_compute(search + rows("random_search", [0.60, 0.61, 0.62]), ["t"], [4], [2], "random_search")
    assert verdict.word == v.HOLDS and "beats in 1, ties in 0, loses in 0 of 1 cells" in verdict.why
    assert v.search_beats_random({"random_search": verdict, "random_k": v.Verdict(v.NOT, "")}) == v.PARTLY


def test_search_budget_sizes_the_candidates(paper):
    ec = paper["equal_compute"]
    s = paper["common"].parse("", ["--steps", "45"])
    args = ec.flags().parse_args([])
    for budget in (2, 5):
        hb = ec.hyperband(s, args, budget)
        assert hb.max_steps == 45 and hb.min_steps == 5
        assert ec.expected_steps(hb) <= budget * 45 < ec.expected_steps(hb.model_copy(update={"candidates": hb.candidates + 1}))


@wordnet
@pytest.mark.slow
def test_estimate_measures_runs_and_records_the_plan(tmp_path, paper):
    import json

    argv = COMMON + ["--steps", "9", "--ks", "2", "--budgets", "2", "--seeds", "0", "--no-lm", "--estimate",
                     "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs")]
    paper["equal_compute"].main(argv)
    e = json.loads((tmp_path / "results" / "equal_compute.estimate.json").read_text())
    (task,) = e["tasks"]
    assert task["task"] == TASK and task["per_step_s"] > 0 and task["overhead_s"] >= 0
    args = paper["equal_compute"].flags().parse_args(argv)
    s = paper["equal_compute"]._settings(args, argv)
    p = paper["equal_compute"].plan(s, args)
    assert (task["runs"], task["steps"], task["searches"]) == tuple(p) and p.searches == 1 and task["scoring_s"] > 0
    assert e["command"] == paper["common"].command("equal_compute", argv)
    assert not (tmp_path / "results" / "equal_compute.csv").exists()  # nothing of the comparison itself ran


def test_an_unfinished_run_gives_tables_and_no_verdict():
    ecr = importlib.import_module("benchmarks.paper.equal_compute_report")
    pr = importlib.import_module("benchmarks.paper.planted_report")
    rows = [{"task": "t", "method": m, "k": "4", "budget": "2", "seed": "0", "test_acc": "0.6", "test_ppl": "",
             "search_steps": "180", "seconds": "900"} for m in ("hyperband", "random_search")]
    rows.append({"task": "t", "method": "baseline", "k": "", "budget": "", "seed": "0", "test_acc": "0.6",
                 "test_ppl": "", "search_steps": "0", "seconds": "3600"})
    text = ecr.section(rows, "", "", "python -m benchmarks.paper.equal_compute", meta=None)
    assert "Not answered yet: the run is unfinished" in text and "1 (task, seed) units" in text
    assert "1 (task, seed) units in about 0.8 h of wall time (45 min per unit" in text  # (900 + 900 + 3600) / 2 s
    assert "**Does the multi-fidelity search" not in text and "| hyperband | 2x | 60.00" in text
    old = {"command": "cmd", "finished_at": "then", "machine": {"load_average": [3.0]}}  # before the parallel schedule
    finished = ecr.section(rows, "", "", "cmd", meta=old)
    assert "**Does the multi-fidelity search" in finished
    assert "**Measured:** the whole plan took about 1.0 h of wall time here (t: 1.00 h for 1 seeds (60 min per " \
           "seed)), about the 2 hours it was sized for. The run was resumed" in finished  # 900 + 900 + 3600 / 2 s
    slow = [dict(r, seconds=str(4 * float(r["seconds"]))) for r in rows]
    assert "**2.0 times the 2 hours it was sized for**" in ecr.section(slow, "", "", "cmd", meta=old)
    parallel = {**old, "schedule": "parallel", "resumed": False, "task_wall_seconds": {"t": 10800.0}}
    clocked = ecr.section(rows, "", "", "cmd", meta=parallel)  # the wall clock, not the rows' seconds
    assert "(t: 3.00 h for 1 seeds (180 min per seed))" in clocked and "**1.5 times the 2 hours" in clocked
    assert "in one command (`cmd`, finished then, 1-minute load average 3.0 at its end)" in clocked
    at90 = ecr.section(None, "", "", "cmd", earlier=(rows, {**old, "settings": {"steps": 90}}))
    assert "**Not run yet.**" in at90 and "**The same comparison at R = 90 steps** (`equal_compute_r90.csv`, run " \
        "to then" in at90 and "It took 1.0 h of wall time here." in at90
    resumed = ecr.section(rows, "", "", "cmd", meta={**parallel, "resumed": True})
    assert "(t: 0.75 h for 1 seeds (45 min per seed))" in resumed and "The run was resumed" in resumed
    estimate = {"command": "est", "workers": 2, "hours": 0.5, "finished_at": "now",
                "machine": {"cpus": 2, "load_average": [1.0, 1.0, 1.0]},
                "tasks": [{"task": "t", "overhead_s": 1.0, "per_step_s": 0.1, "runs": 3, "steps": 9, "hours": 0.5}]}
    with_estimate = ecr.section(rows, "", "", "cmd", estimate={**estimate, "searches_alone": True}, meta=old)
    assert "(t: 1.00 h for 1 seeds (60 min per seed; estimated 0.50 h))" in with_estimate
    assert "**0.50 h in all (one-run methods 2 at a time, searches one at a time)**, plus one scoring pass" \
        in with_estimate
    estimate["tasks"][0]["scoring_s"] = 4.0
    now = ecr.section(rows, "", "", "cmd", estimate={**estimate, "schedule": "parallel"}, meta=parallel)
    assert "0.100 s per step + 4.0 s per scoring pass" in now and "**0.50 h in all (2 runs or search pairs at a " \
        "time)**." in now
    planted = [{"k": "4", "method": m, "draw": str(d), "hits": "0", "recovered": "0.0", "chance": "0.024",
                "candidates": "169", "percentile": "0.5", "planted_kinds": "parallel", "effect": "1.0"}
               for m, draws in (("top_rank", 3), ("hyperband", 1)) for d in range(draws)]
    assert "*Provisional:* hyperband (1 of 3 draws)" in pr.section(planted, "", "", "cmd")


def test_blind_scores_answer_nothing_where_the_control_finds_that_placement_does_not_matter():
    pr = importlib.import_module("benchmarks.paper.planted_report")
    base = {"k": "4", "hits": "0", "recovered": "0.0", "chance": "0.024", "candidates": "169", "percentile": "0.5",
            "planted_kinds": "parallel", "effect": "1.0", "largest_class": "0.2", "train_steps": "9"}
    scores = [dict(base, method="top_rank", draw=str(d)) for d in range(8)]

    def control(oracle: float) -> list[dict]:
        return [dict(base, method=m, draw=str(d), test_acc=str(acc)) for d in range(8)
                for m, acc in (("oracle", oracle), ("random_k", 0.3))]

    assert "can the scores see placement at all? no.**" in pr.section(scores, "", "", "cmd")
    same = pr.section(scores + control(0.3), "", "", "cmd")
    assert "see placement at all? not answered here: they are blind, but so is training" in same
    assert "does placement matter in the planted task? placement does not matter measurably**" in same
    better = pr.section(scores + control(0.5), "", "", "cmd")  # 8 of 8 draws: p = 1/256
    assert "see placement at all? no.**" in better and "placement matters**" in better
