"""End-to-end searches on zoo:bert-tiny with a tiny task: outputs, duplicates, failures, resume checks."""
import csv
import json

import pytest
from search_fixtures import FAST, comparable, quick_search

from adaptgraph.errors import SearchError
from adaptgraph.searcher import Budget, Evolve
from adaptgraph.searcher.journal import FINISHED, STARTED, read_journal
from adaptgraph.spec import load, loads


def test_gga_search_writes_every_output(task_file, tmp_path):
    run = tmp_path / "run"
    result = quick_search(task_file, run, baseline=True)
    assert [t.mutation for t in result.trials] == ["baseline", "gga k=1", "gga k=2"]
    assert not result.trials[0].within_budget and result.best.trial in (1, 2)
    assert result.best.test_accuracy is not None and result.baseline.test_accuracy is not None
    assert load(run / "best.adapt") == result.best.spec  # the comment header changes nothing
    assert "# found by `adaptgraph search` (gga)" in (run / "best.adapt").read_text()
    rows = list(csv.DictReader(open(run / "pareto.csv")))
    assert [int(r["trial"]) for r in rows] == sorted((t.trial for t in result.trials),
                                                      key=lambda k: result.trials[k].params)
    assert sum(int(r["best"]) for r in rows) == 1
    assert all(r["test_accuracy"] for r in rows if int(r["on_front"]))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["best"]["trial"] == result.best.trial
    assert (run / "progress.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "best.png").read_bytes()[:4] == b"\x89PNG"  # the best placement, over the search's scores
    assert (run / "best.safetensors").stat().st_size > 0
    records = read_journal(run / "journal.jsonl")
    finished = [r for r in records if r["event"] == FINISHED and r["stage"] == "search"]
    assert [r["trial"] for r in finished] == [0, 1, 2]
    assert set(finished[1]) >= {"trial", "parent", "mutation", "spec", "hash", "metrics", "trainable_params",
                                "seconds", "status", "error"}
    assert finished[1]["metrics"]["test"] is None  # search trials never see the test split
    assert finished[1]["steps"] == FAST["fidelity_steps"] and finished[1]["device"] == "cpu"
    assert finished[1]["train_loss"] > 0 and finished[1]["head_params"] > 0 and finished[1]["train_seconds"] > 0
    assert loads(finished[1]["spec"]).content_hash() == finished[1]["hash"]


def test_duplicate_specs_are_not_trained_twice(task_file, tmp_path):
    first = quick_search(task_file, None, budget=Budget(adapters=(1,)), final="best")
    again = quick_search(task_file, tmp_path / "run", budget=Budget(adapters=(1, 1, 2)),
                         specs=[first.best.spec], final="best")
    assert again.duplicates == 2  # the user's spec is gga k=1, and k=1 is asked twice
    started = [r for r in read_journal(tmp_path / "run" / "journal.jsonl") if r["event"] == STARTED]
    assert len(started) == len({r["hash"] for r in started if r["stage"] == "search"}) + 1  # + the final


def test_a_failing_trial_is_recorded_and_the_search_goes_on(task_file, tmp_path):
    broken = loads("spec broken\nedge encoder.nowhere.out -> @1\n")
    result = quick_search(task_file, tmp_path / "run", specs=[broken], final="best")
    failed = [t for t in result.trials if t.status == "failed"]
    assert [t.name for t in failed] == ["broken"]
    assert failed[0].error.startswith("PlanError: ") and "encoder.nowhere" in failed[0].error
    assert [t.status for t in result.trials[1:]] == ["ok", "ok"] and result.best is not None
    record = next(r for r in read_journal(tmp_path / "run" / "journal.jsonl")
                  if r["event"] == FINISHED and r["trial"] == 0)
    assert record["status"] == "failed" and record["error"] == failed[0].error


def test_resume_refuses_another_task_backbone_or_strategy(task_file, tmp_path):
    run = tmp_path / "run"
    quick_search(task_file, run, budget=Budget(adapters=(1,)), final="best")
    with pytest.raises(SearchError) as e:
        quick_search(task_file, run, budget=Budget(adapters=(1,)), final="best", strategy=Evolve(trials=3),
                     resume=True)
    assert 'strategy.name: "gga" in the run folder, "evolve" now' in str(e.value)
    other = tmp_path / "other.csv"
    other.write_text(task_file.read_text().replace("cat", "kitten"))
    with pytest.raises(SearchError) as e:
        quick_search(other, run, budget=Budget(adapters=(1,)), final="best", resume=True)
    assert "task: " in str(e.value) and "task_fingerprint: " in str(e.value)
    from adaptgraph.searcher import SearchConfig, search

    with pytest.raises(SearchError, match='backbone: "zoo:bert-tiny" in the run folder, "zoo:gpt-tiny" now'):
        search(f"csv:{task_file}", "zoo:gpt-tiny", SearchConfig(resume=True, budget=Budget(adapters=(1,))),
               out=run, progress=False)


def test_resuming_a_finished_search_trains_nothing_and_gives_the_same_result(task_file, tmp_path):
    run = tmp_path / "run"
    first = quick_search(task_file, run, strategy=Evolve(trials=5, population=2))
    lines = (run / "journal.jsonl").read_text()
    again = quick_search(task_file, run, strategy=Evolve(trials=5, population=2), resume=True)
    assert (run / "journal.jsonl").read_text() == lines
    assert comparable(again) == comparable(first)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_resuming_a_search_whose_best_weights_are_lost_trains_the_best_again(task_file, tmp_path, damage):
    """Regression: a resumed search whose trials were all in the journal reported best.safetensors as written
    while the file was gone or cut short; now the best trial alone is trained again and the file is whole."""
    from adaptgraph.fileio.safetensors_files import check_safetensors

    run = tmp_path / "run"
    first = quick_search(task_file, run, final="best")
    weights = run / "best.safetensors"
    whole = weights.read_bytes()
    weights.unlink() if damage == "missing" else weights.write_bytes(whole[: len(whole) // 2])
    again = quick_search(task_file, run, final="best", resume=True)
    check_safetensors(weights)
    assert comparable(again) == comparable(first)
    started = [r for r in read_journal(run / "journal.jsonl") if r["event"] == STARTED and r["stage"] == "final"]
    assert [r["trial"] for r in started] == [first.best.trial] * 2  # the first run's final, and the one retrained


def test_adaptgraph_search_is_the_function_even_after_the_package_is_imported():
    import adaptgraph
    import adaptgraph.searcher  # noqa: F401  (the package is named apart, so it cannot hide the function)

    assert adaptgraph.search is adaptgraph.searcher.search
    with pytest.raises(SearchError, match="unknown search strategy 'nope'"):
        adaptgraph.search("digits", "zoo:vit-tiny", adaptgraph.searcher.SearchConfig(strategy="nope"))
