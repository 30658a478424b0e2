"""Hostile JSON, values that pass but mean nothing, Python API types, bidi controls (issue 21, classes 4, 7, 8)."""
from __future__ import annotations

import json
import re
import warnings

import pytest

import adaptgraph
from adaptgraph.cli import main
from adaptgraph.errors import ArgumentError, ScoreError, SpecWarning, TaskError
from adaptgraph.score.edge_scores import EdgeScores
from adaptgraph.tasks import load_task


def _scores(**change) -> dict:
    doc = {"format": "adaptgraph.edge_scores", "version": 1, "points": ["@1", "@2"], "nodes": ["a", "b"],
           "orders": [1, 2], "shapes": [[2, 4, 8], [2, 4, 8]], "feature_dims": [-1, -1], "widths": [8, 8],
           "tokens": [8, 8], "rank": [[None, 1.0], [None, None]], "erank": [[None, 1.0], [None, None]],
           "fro": [[None, 1.0], [None, None]], "nuclear": [[None, 1.0], [None, None]]}
    return {**doc, **change}


def test_a_well_formed_scores_file_loads(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(_scores()))
    assert EdgeScores.load(path).widths == (8, 8)


@pytest.mark.parametrize("content, message", [
    (json.dumps(_scores(widths=["8", 8])), "field 'widths[0]': Input should be a valid integer (found '8')"),
    (json.dumps(_scores(widths=[8, 4_000_000_000])), "field 'widths[1]': Input should be less than or equal to"),
    (json.dumps(_scores(rank=[[None, True], [None, None]])), "field 'rank[0][1]'"),
    (json.dumps(_scores()).replace("1.0", "1e999", 1), "field 'rank[0][1]': Input should be a finite number"),
    (json.dumps(_scores()).replace("1.0", "1" * 400, 1), "field 'rank[0][1]': Input should be a valid number"),
    (json.dumps(_scores()).replace("1.0", "NaN", 1), "NaN is not a number a file may hold"),
    ('{"format": ' + "[" * 100_000, "the JSON nests too deeply"),
    (b'{"format": "\xff"}', "scores.json:1: not UTF-8 text (byte 0xff)"),
])
def test_a_hostile_scores_file_names_the_file_and_the_field(tmp_path, content, message):
    path = tmp_path / "scores.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ScoreError) as e:
        EdgeScores.load(path)
    assert str(path) in str(e.value) and message in str(e.value), str(e.value)


@pytest.mark.parametrize("split", ["1e308/1e308/1", "1e7/1/1", "inf/1/1", "nan/1/1"])
def test_split_proportions_that_mean_nothing_are_refused(split):
    with pytest.raises(TaskError, match=re.escape(f"option split={split}") + ".*must be three proportions"):
        load_task(f"digits?split={split}")


@pytest.mark.parametrize("seed, message", [
    (1.5, "seed must be a whole number (int), not float 1.5"), (True, "seed must be a whole number (int), not bool"),
    (-3, "seed must be from 0 to 2**63 - 1, not -3"), (2**63, "seed must be from 0 to 2**63 - 1"),
])
def test_compile_refuses_seeds_that_no_file_could_hold(seed, message):
    spec = adaptgraph.loads('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')
    with pytest.raises(ArgumentError, match=re.escape(message)):
        adaptgraph.compile(spec, seed=seed)


def test_what_compile_accepts_save_and_load_round_trip(tmp_path):
    import torch

    spec = adaptgraph.loads('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2, init = normal }\n')
    model = adaptgraph.compile(spec, seed=2**63 - 1)
    adaptgraph.save_adapters(model, tmp_path / "a.safetensors")
    again = adaptgraph.load_adapters(tmp_path / "a.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("call, message", [
    (lambda: adaptgraph.dumps(None), "spec must be a Spec (from load, loads or Spec(...)), not NoneType None"),
    (lambda: adaptgraph.dump(None, "x.adapt"), "spec must be a Spec"),
    (lambda: adaptgraph.dump(adaptgraph.loads("edge @1 -> @2"), 3), "path must be a path (str or pathlib.Path)"),
    (lambda: adaptgraph.dumps(adaptgraph.loads("edge @1 -> @2"), format="toml"), "format must be 'adapt'"),
    (lambda: adaptgraph.load(None), "path must be a path"),
    (lambda: adaptgraph.compile(adaptgraph.loads('backbone "zoo:bert-tiny"'), frontend=3),
     "frontend must be a name (str) or None, not int 3"),
    (lambda: adaptgraph.compile(42), "spec must be a Spec or the path of a spec file"),
    (lambda: adaptgraph.load_adapters(None), "path must be a path"),
])
def test_the_python_api_names_the_parameter_of_the_wrong_type(call, message):
    with pytest.raises(ArgumentError, match=re.escape(message)):
        call()


def test_bidirectional_controls_are_warned_about_with_their_position(tmp_path, capsys):
    path = tmp_path / "trojan.adapt"
    path.write_text("edge @1 -> @2  # \u202e } \u2066\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adaptgraph.load(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, SpecWarning)]
    assert messages == [f"{path}:1:18: warning: bidirectional control character U+202E (the text may show "
                        "differently from how it is read)",
                        f"{path}:1:22: warning: bidirectional control character U+2066 (the text may show "
                        "differently from how it is read)"]
    assert main(["check", str(path)]) == 0
    assert f"{path}:1:18: warning: bidirectional control character U+202E" in capsys.readouterr().err
