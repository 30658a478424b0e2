"""`adaptgraph score` and `adaptgraph select` as a user runs them: files, summaries, the
score -> select -> check -> compile -> train chain, and the errors users can cause."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from adaptgraph.cli import main
from adaptgraph.score import EdgeScores, SelectConfig, select
from adaptgraph.spec import dumps, loads

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=40"
PNG = b"\x89PNG\r\n\x1a\n"
EDGE_PARAMS = 8 * (64 + 64) + 8 + 64  # rank-8 adapter between two width-64 points, with biases


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """One scoring run of zoo:bert-tiny on a small WordNet task, shared by the tests below."""
    out = tmp_path_factory.mktemp("scores")
    code, stdout, stderr = run("score", "zoo:bert-tiny", "--task", TASK, "--batches", "2", "--batch-size", "8",
                               "--head", "random", "--metric", "erank", "--out", str(out), "--no-progress", "--json")
    assert code == 0, stderr
    return out, json.loads(stdout)


def test_score_writes_scores_heatmap_and_json_summary(scored):
    out, summary = scored
    scores = EdgeScores.load(out / "scores.json")
    assert (out / "heatmap.png").read_bytes()[:8] == PNG
    assert scores.points == tuple(f"@{k}" for k in range(9)) and scores.backbone == "zoo:bert-tiny"
    assert summary["points"] == 9 and summary["edges"] == 81 and summary["metric"] == "erank"
    assert summary["tokens"] == max(scores.tokens) and summary["batches"] == 2 and summary["head"] == "random"
    assert summary["scores"] == str(out / "scores.json") and summary["heatmap"] == str(out / "heatmap.png")
    assert set(summary["seconds"]) == {"trace", "head", "probe", "fro", "spectra", "total"}
    erank = scores.matrix("erank")
    best = sorted(erank.ravel(), reverse=True)[:10]
    assert [e["score"] for e in summary["top"]] == best
    top = summary["top"][0]
    i, j = scores.points.index(top["src"]), scores.points.index(top["dst"])
    assert erank[i, j] == best[0] and top["kind"] == scores.kind(i, j)


def test_score_text_summary_and_saturation_warning_on_one_line(tmp_path):
    # 2 digits images = 34 tokens < width 64, and rtol 0 counts every nonzero singular value: the ranks saturate
    code, out, err = run("score", "zoo:vit-tiny", "--task", "digits", "--batches", "1", "--batch-size", "2",
                         "--head", "random", "--rtol", "0", "--points", "@0", "@4", "@8", "--out", str(tmp_path),
                         "--no-progress")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "scored 9 edges between 3 points of zoo:vit-tiny on digits"
    assert lines[1] == "tokens 34 (1 batch), widths 64, head random, rank tolerance 0"
    assert lines[2].startswith("seconds ") and "probe" in lines[2] and "spectra" in lines[2]
    assert lines[3] == "top edges by rank:" and lines[4].split() == ["source", "destination", "kind", "rank"]
    assert len(lines) == 6 + 9 + 1 and lines[-1] == f"wrote {tmp_path / 'scores.json'} and {tmp_path / 'heatmap.png'}"
    assert err.startswith("warning: ") and err.count("\n") == 1
    assert "edge ranks equal the number of tokens" in err and "score with more batches" in err


def test_score_unknown_metric_fails_before_scoring(tmp_path):
    code, out, err = run("score", "zoo:vit-tiny", "--task", "digits", "--metric", "rnak", "--out", str(tmp_path / "s"))
    assert (code, out) == (1, "")
    assert err == ("error: unknown metric 'rnak'; choose one of rank, erank, fro, nuclear\n"
                   "    hint: did you mean 'rank' or 'erank'?\n")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("argv, message", [
    (["--metrics", "rank", "--metric", "erank"],
     "error: --metric erank is not among the metrics computed (rank)\n    hint: add it: --metrics rank erank\n"),
    (["--metrics", "rank", "nuclaer"],
     "error: unknown metric 'nuclaer'; choose one of rank, erank, fro, nuclear\n    hint: did you mean 'nuclear'?\n"),
])
def test_score_metrics_are_checked_before_scoring(tmp_path, argv, message):
    code, out, err = run("score", "zoo:vit-tiny", "--task", "digits", *argv, "--out", str(tmp_path / "s"))
    assert (code, out, err) == (1, "", message)
    assert not (tmp_path / "s").exists()


def test_score_rank_only_saves_ranks_and_its_heat_map(tmp_path):
    code, out, err = run("score", "zoo:vit-tiny", "--task", "digits", "--batches", "1", "--batch-size", "4",
                         "--head", "random", "--metrics", "rank", "--points", "@0", "@4", "@8", "--out", str(tmp_path),
                         "--no-progress", "--json")
    assert code == 0, err
    summary, scores = json.loads(out), EdgeScores.load(tmp_path / "scores.json")
    assert scores.metrics == ("rank",) and scores.spectra is None and summary["metric"] == "rank"
    assert set(summary["seconds"]) == {"trace", "head", "probe", "rank", "total"}
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == PNG


def test_score_unknown_head(tmp_path):
    code, _, err = run("score", "zoo:vit-tiny", "--task", "digits", "--head", "probes", "--out", str(tmp_path))
    assert code == 1
    assert err == "error: unknown head mode 'probes'; choose one of probe, random\n    hint: did you mean 'probe'?\n"


def test_select_check_compile_train_chain(scored, tmp_path):
    out, _ = scored
    spec = tmp_path / "best.adapt"
    code, printed, _ = run("select", str(out / "scores.json"), "-k", "3", "-o", str(spec))
    assert code == 0
    text = spec.read_text()
    assert text.startswith('spec best\nbackbone "zoo:bert-tiny"\n') and text.count("\nedge @") == 3
    assert printed.splitlines()[0] == "chose 3 edges by gga (gamma 0.6) on rank scores of zoo:bert-tiny"
    assert f"trainable parameters: {3 * EDGE_PARAMS:,} (rank 8 adapters, without the task head)" in printed
    assert run("check", str(spec))[0] == 0
    assert run("fmt", "--check", str(spec))[0] == 0  # written in canonical form
    code, compiled, _ = run("compile", str(spec), "--json")
    assert code == 0 and json.loads(compiled)["trainable_parameters"] == 3 * EDGE_PARAMS
    code, trained, err = run("train", str(spec), "--task", TASK, "--epochs", "1", "--no-progress", "--json",
                             "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert json.loads(trained)["trainable_parameters"]["model"] == 3 * EDGE_PARAMS


def test_select_prints_the_same_spec_as_the_python_api(scored):
    out, _ = scored
    code, printed, _ = run("select", str(out), "-k", "4", "--strategy", "topk", "--metric", "erank", "--rank", "4")
    assert code == 0
    expected = select(EdgeScores.load(out / "scores.json"), SelectConfig(k=4, strategy="topk", metric="erank", rank=4))
    assert printed == dumps(expected)


def test_select_allocated_ranks_and_grad_init_match_the_python_api(scored):
    out, _ = scored
    code, printed, _ = run("select", str(out), "-k", "3", "--ranks", "allocated", "--init", "grad", "--json")
    assert code == 0
    report = json.loads(printed)
    expected = select(EdgeScores.load(out / "scores.json"), SelectConfig(k=3, ranks="allocated", init="grad"))
    assert report["spec"] == dumps(expected) and "init = grad" in report["spec"]
    assert report["trainable_parameters"] <= 3 * EDGE_PARAMS  # the equal-rank budget of the same 3 edges
    assert sorted({e["rank"] for e in report["edges"]}) != [8]  # the spectra moved parameters between edges


def test_select_json_no_recurrent_and_budget(scored):
    out, _ = scored
    code, printed, _ = run("select", str(out), "-k", "20", "--strategy", "last", "--json")
    kinds = {e["kind"] for e in json.loads(printed)["edges"]}
    assert code == 0 and "recurrent" in kinds
    code, printed, _ = run("select", str(out), "-k", "20", "--strategy", "last", "--no-recurrent", "--json")
    r = json.loads(printed)
    assert code == 0 and len(r["edges"]) == 20 and "recurrent" not in {e["kind"] for e in r["edges"]}
    assert r["trainable_parameters"] == 20 * EDGE_PARAMS and r["gamma"] is None and r["output"] is None
    assert loads(r["spec"]).backbone == "zoo:bert-tiny"
    code, printed, _ = run("select", str(out), "--max-params", str(3 * EDGE_PARAMS - 1), "--json")
    assert code == 0 and len(json.loads(printed)["edges"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["select", "missing.json", "-k", "2"],
     "error: cannot read scores file 'missing.json': No such file or directory\n"),
    (["select", "SCORES", "-k", "82"],
     "error: asked for 82 edges but only 81 candidate edges are allowed\n    hint: lower k, or allow more edge kinds\n"),
    (["select", "SCORES", "-k", "2", "--metric", "frobenius"],
     "error: unknown metric 'frobenius'; choose one of rank, erank, fro, nuclear\n"),
    (["select", "SCORES", "-k", "2", "--strategy", "gag"],
     "error: unknown selection strategy 'gag'; choose one of gga, topk, first, last, random\n"
     "    hint: did you mean 'gga'?\n"),
    (["select", "SCORES", "-k", "2", "--gamma", "1"],
     "error: gamma must be in [0, 1), got 1.0\n    hint: the paper uses gamma = 0.6\n"),
    (["select", "SCORES"], "error: no budget: give -k (number of adapters) or --max-params (trainable parameters)\n"),
    (["select", "SCORES", "--max-params", "100"],
     f"error: no edge fits the budget of 100 trainable parameters\n    hint: the cheapest allowed edge needs "
     f"{EDGE_PARAMS:,}\n"),
])
def test_select_errors(scored, argv, message):
    out, _ = scored
    code, printed, err = run(*[str(out / "scores.json") if a == "SCORES" else a for a in argv])
    assert (code, printed, err) == (1, "", message)


def test_select_numbers_are_checked_with_every_option(scored):
    """-k 0 is caught where every command's numbers are (adaptgraph/cli/number_flags.py): a usage error."""
    out, _ = scored
    code, printed, err = run("select", str(out / "scores.json"), "-k", "0")
    assert (code, printed, err) == (2, "", "error: -k: must be an integer from 1 to 1000000000 (got 0)\n")


@pytest.mark.parametrize("change, message", [
    ({"version": 7}, "EdgeScores version 7 is not supported"),
    ({"nodes": []}, "EdgeScores.nodes has 0 entries for"),
])
def test_every_problem_of_a_scores_file_names_the_file(scored, tmp_path, change, message):
    """Regression: problems found outside the field checks (the version, lengths that disagree) did not say
    which file they were in."""
    out, _ = scored
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads((out / "scores.json").read_text()), **change}))
    code, _, err = run("select", str(bad), "-k", "1")
    assert code == 1 and err.startswith(f"error: {bad}: {message}"), err


def test_scores_without_the_metric_a_command_needs_name_the_file(scored, tmp_path):
    out, _ = scored
    fro_only = tmp_path / "fro.json"
    fro_only.write_text(json.dumps({**json.loads((out / "scores.json").read_text()), "rank": None}))
    code, _, err = run("select", str(fro_only), "-k", "1")
    assert code == 1 and err.startswith(f"error: {fro_only}: these scores hold no 'rank' scores"), err


def test_select_refuses_a_file_that_is_not_scores(tmp_path):
    other = tmp_path / "metrics.json"
    other.write_text('{"accuracy": 0.5}')
    code, _, err = run("select", str(other), "-k", "2")
    assert code == 1
    assert err == (f"error: {other}: not an EdgeScores document (missing 'format': 'adaptgraph.edge_scores')\n"
                   "    hint: pass the scores.json written by `adaptgraph score`\n")


# -- the documentation: every python block of docs/scoring.md and of the Scoring section of
# docs/performance.md runs and prints its "# out:" lines; the performance table is the benchmark's
ROOT = Path(__file__).resolve().parents[2]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def scoring_section(text: str) -> str:
    start = text.index("## Scoring")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


DOC_BLOCKS = [("scoring.md", k, b) for k, b in enumerate(python_blocks((ROOT / "docs/scoring.md").read_text()))] + [
    ("performance.md", k, b)
    for k, b in enumerate(python_blocks(scoring_section((ROOT / "docs/performance.md").read_text())))]


@pytest.mark.parametrize("doc, index, code", DOC_BLOCKS, ids=[f"{d}[{k}]" for d, k, _ in DOC_BLOCKS])
def test_doc_examples_print_what_they_claim(doc, index, code, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples read files by repository-relative paths
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"docs/{doc}[block {index}]", "exec"), {"__name__": "docs_example"})
    claimed = [line.strip()[len("# out: "):] for line in code.splitlines() if line.strip().startswith("# out: ")]
    assert claimed and out.getvalue().splitlines() == claimed


def test_performance_table_is_the_benchmark_result():
    import importlib.util

    spec = importlib.util.spec_from_file_location("score_speed", ROOT / "benchmarks/score_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = json.loads((ROOT / "benchmarks/results/score_speed.json").read_text())
    assert bench.table(result) in scoring_section((ROOT / "docs/performance.md").read_text())


@pytest.mark.parametrize("command, config", [("score", "ScoreConfig"), ("select", "SelectConfig")])
def test_every_config_field_has_a_flag_with_its_default(command, config):
    import adaptgraph.score as score
    from adaptgraph.cli import build_parser
    from adaptgraph.cli.commands.score_commands import CLI_ONLY

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    flags = {a.dest: a.default for a in sub._actions if a.dest != "help"}
    fields = getattr(score, config).model_fields
    assert set(fields) <= set(flags), f"no flag for {set(fields) - set(flags)}"
    assert set(flags) - set(fields) <= CLI_ONLY  # every other flag is a config field
    assert {name: flags[name] for name in fields} == {name: f.default for name, f in fields.items()}
