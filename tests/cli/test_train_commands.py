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


def test_empty_spec_is_the_linear_probe(tmp_path, capsys):
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


