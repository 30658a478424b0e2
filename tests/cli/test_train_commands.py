"""`adaptgraph train` and `adaptgraph eval` as a user runs them (tiny backbone, real WordNet)."""
from __future__ import annotations

import json

import pytest

from adaptgraph.cli import main

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=40"


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "s.adapt"
    path.write_text('backbone "zoo:bert-tiny"\nedge @1 -> @3\nparallel @2 -> @3 { rank = 4 }\n')
    return path


def train(spec, out, *extra):
    return main(["train", str(spec), "--task", TASK, "--epochs", "2", "--out", str(out), "--no-progress", *extra])


def test_train_then_eval_reproduces_test_accuracy(spec, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(spec, out) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in printed
    assert sorted(p.name for p in out.iterdir()) == [".adaptgraph.lock", "adapters.safetensors", "log.jsonl",
                                                     "metrics.json", "spec.adapt"]
    assert main(["eval", str(out), "--json", "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["accuracy"] == metrics["test"]["accuracy"] and again["loss"] == metrics["test"]["loss"]


def test_empty_spec_is_the_linear_probe(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without --out the run goes to runs/ here
    empty = tmp_path / "probe.adapt"
    empty.write_text("")
    assert main(["train", str(empty), "--backbone", "zoo:bert-tiny", "--task", TASK, "--epochs", "1",
                 "--no-progress", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["trainable_parameters"]["model"] == 0 and m["trainable_parameters"]["head"] == 64 * 3 + 3


def test_finished_out_is_refused_without_overwrite(spec, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(spec, out) == 0
    capsys.readouterr()
    assert train(spec, out) == 1
    assert f"error: {out} already holds a finished run (metrics.json exists)" in capsys.readouterr().err
    assert train(spec, out, "--overwrite") == 0


def test_eval_on_another_task_is_refused(spec, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(spec, out) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--task", "wordnet:noun.animal,noun.food?per_class=40"]) == 1
    assert "the run was trained on" in capsys.readouterr().err


def test_bad_values_are_usage_errors(spec, capsys):
    assert main(["train", str(spec), "--task", TASK, "--lr", "-1"]) == 2
    assert "lr" in capsys.readouterr().err




def test_without_out_every_run_is_kept_in_a_new_folder_under_runs(spec, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20261207-101500")  # both runs start "in one second"
    args = ["train", str(spec), "--task", TASK, "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "saved to runs/train-20261207-101500"
    assert main([*args, "--json"]) == 0
    printed = capsys.readouterr()
    assert printed.err.splitlines()[-1] == "saved to runs/train-20261207-101500-1"  # never reused
    assert json.loads(printed.out)["run_dir"] == "runs/train-20261207-101500-1"  # a script finds its run too
    for name in ("train-20261207-101500", "train-20261207-101500-1"):
        assert (tmp_path / "runs" / name / "metrics.json").is_file()
    assert main(["eval", "runs/train-20261207-101500", "--no-progress"]) == 0


def test_a_failed_run_without_out_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.adapt"
    bad.write_text('backbone "zoo:bert-tiny"\nedge @1 -> @99\n')
    assert main(["train", str(bad), "--task", TASK, "--epochs", "1", "--no-progress"]) == 1
    assert "@99" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nor the runs/ folder it made for it


def test_a_failed_run_without_out_keeps_a_runs_folder_that_was_there(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    bad = tmp_path / "bad.adapt"
    bad.write_text('backbone "zoo:bert-tiny"\nedge @1 -> @99\n')
    assert main(["train", str(bad), "--task", TASK, "--epochs", "1", "--no-progress"]) == 1
    assert list((tmp_path / "runs").iterdir()) == []


def test_torchrun_without_out_is_refused(spec, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", str(spec), "--task", TASK, "--epochs", "1", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("error: under torchrun, train needs --out DIR")


def test_an_lm_task_header_names_its_vocabulary_and_blocks(tmp_path, capsys):
    import random

    rng = random.Random(0)
    words = "the cat sat on a mat while dogs ran far away".split()
    text = tmp_path / "text.txt"
    text.write_text("\n\n".join(" ".join(rng.choice(words) for _ in range(40)) for _ in range(60)))
    lm = tmp_path / "lm.adapt"
    lm.write_text('backbone "zoo:gpt-tiny"\nparallel h.0.mlp { rank = 2 }\n')
    assert main(["train", str(lm), "--task", f"lm:{text}?block=32", "--steps", "2", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"task {metrics['task']} (vocabulary of 1,000 tokens, {metrics['train_examples']:,} training "
                     "blocks of 32 tokens) on zoo:gpt-tiny")


def test_a_log_gets_progress_lines_and_no_progress_silences_them(spec, tmp_path, capsys):
    args = ["train", str(spec), "--task", TASK, "--epochs", "2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()  # captured stderr is not a terminal: a log
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert "train: 0/2 epochs, 0 s elapsed" in err
    last = next(line for line in reversed(err) if line.startswith("train: "))
    assert last.startswith("train: 2/2 epochs, ") and ", train loss " in last
    assert last.endswith(f", best validation accuracy {metrics['validation']['accuracy']:.4f}")
    assert all("\r" not in line for line in err)
    assert main([*args, "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["eval", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "eval test: 0/1 batches, 0 s elapsed" and err[-1].startswith("eval test: 1/1 batches, ")
