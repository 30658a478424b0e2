"""The journal survives a cut-off last line; resuming checks that the run folder holds the same search."""
import json

import pytest

from adaptgraph.errors import SearchError
from adaptgraph.searcher.journal import FINISHED, JOURNAL, MANIFEST, Journal, read_journal

MANIFEST_DATA = {"task": "csv:a.csv", "backbone": "zoo:bert-tiny", "strategy": "gga", "seed": 0}


def test_records_are_appended_and_read_back(tmp_path):
    journal = Journal.open(tmp_path / "run", MANIFEST_DATA)
    journal.append(FINISHED, {"trial": 0, "stage": "search", "status": "ok", "metrics": {"validation": {"loss": float("nan")}}})
    journal.close()
    again = Journal.open(tmp_path / "run", MANIFEST_DATA, resume=True)
    record = again.finished("search", 0)
    assert record["status"] == "ok" and record["metrics"]["validation"]["loss"] is None  # NaN kept as null
    assert json.loads((tmp_path / "run" / MANIFEST).read_text())["format"] == "adaptgraph-search/2"


def test_a_cut_off_last_line_is_dropped_and_cut_from_the_file_only_by_the_holder(tmp_path):
    # the public reader cut it too, without the folder's claim: a reader polling a running search's journal
    # cut the line being written, and 119 of 3000 records were lost (found by a review)
    path = tmp_path / JOURNAL
    good = json.dumps({"event": FINISHED, "trial": 0, "stage": "search"}) + "\n"
    path.write_text(good + '{"event": "trial_fini')
    assert [r["trial"] for r in read_journal(path)] == [0]
    assert path.read_text() == good + '{"event": "trial_fini'  # a reader never writes
    assert [r["trial"] for r in read_journal(path, repair=True)] == [0]
    assert path.read_text() == good


def test_a_last_line_that_is_no_record_begun_is_an_error_and_the_file_is_kept(tmp_path):
    """Regression: any last line without a newline was taken as a cut-off write and cut, so a journal
    replaced by other bytes (here, one line of them) was emptied and the search started over."""
    path = tmp_path / JOURNAL
    garbage = b"\x00\x01 not a journal at all"
    path.write_bytes(garbage)
    with pytest.raises(SearchError, match=r"journal.jsonl:1: the journal is damaged"):
        read_journal(path)
    assert path.read_bytes() == garbage


def test_a_damaged_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / JOURNAL
    path.write_text('{"event": "x", "trial": 0}\nnot json\n{"event": "x", "trial": 1}\n')
    with pytest.raises(SearchError, match=r"journal.jsonl:2: the journal is damaged"):
        read_journal(path)


def test_a_folder_with_a_search_needs_resume(tmp_path):
    journal = Journal.open(tmp_path, MANIFEST_DATA)
    journal.append(FINISHED, {"trial": 0, "stage": "search"})
    journal.close()
    with pytest.raises(SearchError) as e:
        Journal.open(tmp_path, MANIFEST_DATA)
    assert "already holds a search" in str(e.value) and "add --resume" in str(e.value)


def test_resume_names_every_difference(tmp_path):
    Journal.open(tmp_path, MANIFEST_DATA).close()
    other = {**MANIFEST_DATA, "task": "csv:b.csv", "strategy": "evolve"}
    with pytest.raises(SearchError) as e:
        Journal.open(tmp_path, other, resume=True)
    text = str(e.value)
    assert "holds a different search, so it cannot be resumed" in text
    assert 'strategy: "gga" in the run folder, "evolve" now' in text
    assert 'task: "csv:a.csv" in the run folder, "csv:b.csv" now' in text
    assert "backbone" not in text.split("hint")[0]


def test_resume_without_a_manifest_says_there_is_nothing(tmp_path):
    with pytest.raises(SearchError, match="nothing to resume"):
        Journal.open(tmp_path / "empty", MANIFEST_DATA, resume=True)


def test_resume_of_a_search_stopped_before_its_manifest_starts_it(tmp_path):
    from adaptgraph.fileio.folder_claims import claim_folder

    claim_folder(tmp_path / "run", "search").release()  # killed after its claim, before the manifest
    Journal.open(tmp_path / "run", MANIFEST_DATA, resume=True).close()
    assert json.loads((tmp_path / "run" / MANIFEST).read_text())["strategy"] == MANIFEST_DATA["strategy"]
    claim_folder(tmp_path / "trained", "train").release()  # not a search's folder: still nothing to resume
    with pytest.raises(SearchError, match="nothing to resume"):
        Journal.open(tmp_path / "trained", MANIFEST_DATA, resume=True)


def test_a_folder_whose_search_ran_no_trial_is_reused(tmp_path):
    Journal.open(tmp_path, MANIFEST_DATA).close()
    Journal.open(tmp_path, {**MANIFEST_DATA, "seed": 1}).close()
    assert json.loads((tmp_path / MANIFEST).read_text())["seed"] == 1


def test_nested_settings_are_named_by_their_path(tmp_path):
    Journal.open(tmp_path, {**MANIFEST_DATA, "budget": {"adapters": [2], "rank": 8}}).close()
    with pytest.raises(SearchError) as e:
        Journal.open(tmp_path, {**MANIFEST_DATA, "budget": {"adapters": [4], "rank": 8}}, resume=True)
    assert e.value.problems[0].message.splitlines()[1:] == ["  budget.adapters: [2] in the run folder, [4] now"]


def test_an_outcome_and_its_training_loss_survive_the_journal(tmp_path):
    from adaptgraph.searcher import TrialOutcome

    outcome = TrialOutcome(3, "search", "ok", {"accuracy": 0.5, "loss": 1.25}, None, 120, 2.5, train_loss=0.75,
                           steps=4, head_params=51, train_seconds=1.5, device="cpu")
    journal = Journal.open(tmp_path / "run", MANIFEST_DATA)
    journal.append(FINISHED, {"trial": 3, "stage": "search", "hash": "h", **outcome.to_dict()})
    journal.close()
    record = Journal.open(tmp_path / "run", MANIFEST_DATA, resume=True).finished("search", 3)
    assert TrialOutcome.from_dict(3, "search", record) == outcome  # what a resumed search tells the searcher


def test_a_record_from_before_the_training_fields_reads_them_as_unknown():
    from adaptgraph.searcher import TrialOutcome

    old = {"status": "ok", "metrics": {"validation": {"accuracy": 0.5}, "test": None}, "trainable_params": 8,
           "seconds": 1.0, "error": None, "attempts": 1}
    outcome = TrialOutcome.from_dict(0, "search", old)
    assert outcome.accuracy == 0.5 and (outcome.train_loss, outcome.steps, outcome.device) == (None, None, None)


def test_a_folder_written_before_the_search_config_is_refused_with_its_format(tmp_path):
    run = tmp_path / "run"
    Journal.open(run, MANIFEST_DATA).close()
    old = {**json.loads((run / MANIFEST).read_text()), "format": "adaptgraph-search/1"}
    (run / MANIFEST).write_text(json.dumps(old))
    with pytest.raises(SearchError, match="format 'adaptgraph-search/1', written by an earlier version"):
        Journal.open(run, MANIFEST_DATA, resume=True)
