"""Property tests: mutated and random content of every format adaptgraph reads ends in adaptgraph's own error
(the CLI exits 1 or 2, never 3), within a time bound, without a write outside the output folder (issue 21).
The model-folder formats (adapter_config.json, config.json) are in tests/interop/test_model_file_properties.py.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import adaptgraph
from adaptgraph.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from file_properties import FEW, json_values, mutated, run_bounded  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "specs" / "vit_tiny_globs.adapt").read_bytes()
SPEC_JSON = adaptgraph.dumps(adaptgraph.load(ROOT / "specs" / "vit_tiny_globs.adapt"), format="json").encode()
SPEC_YAML = adaptgraph.dumps(adaptgraph.load(ROOT / "specs" / "vit_tiny_globs.adapt"), format="yaml").encode()
CSV = b"text,label\n" + b"".join(b"t%d,%s\n" % (i, b"ab"[i % 2:i % 2 + 1]) for i in range(40))
JSONL = b"".join(json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}).encode() + b"\n" for i in range(40))


@pytest.fixture()
def place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("suffix, seed", [(".adapt", SPEC), (".json", SPEC_JSON), (".adapt.yaml", SPEC_YAML)])
@FEW
@given(data=st.data())
def test_mutated_specs_in_every_form(place, suffix, seed, data):
    content = data.draw(st.one_of(mutated(seed), st.binary(max_size=200)))
    path = place / f"s{suffix}"
    path.write_bytes(content)
    out = place / "out"
    run_bounded(lambda: main(["check", str(path)]), place)
    run_bounded(lambda: main(["convert", str(path), "--to", "adapt", "-o", str(out / "c.adapt")]), place, out)


@pytest.mark.parametrize("provider, seed", [("csv", CSV), ("jsonl", JSONL), ("lm", CSV)])
@FEW
@given(data=st.data())
def test_mutated_task_files(place, provider, seed, data):
    from adaptgraph.tasks import load_task

    path = place / f"data.{provider if provider != 'lm' else 'txt'}"
    path.write_bytes(data.draw(st.one_of(mutated(seed), st.binary(max_size=200))))
    run_bounded(lambda: load_task(f"{provider}:{path}"), place)


def _scores_doc() -> dict:
    return {"format": "adaptgraph.edge_scores", "version": 1, "points": ["@1", "@2", "@3"], "nodes": ["a", "b", "c"],
            "orders": [1, 2, 3], "shapes": [[2, 4, 8]] * 3, "feature_dims": [-1] * 3, "widths": [8] * 3,
            "tokens": [8] * 3, "rank": [[None, 2.0, 1.0], [None, None, 3.0], [None, None, None]],
            "erank": [[None, 2.0, 1.0], [None, None, 3.0], [None, None, None]],
            "fro": [[None, 2.0, 1.0], [None, None, 3.0], [None, None, None]],
            "nuclear": [[None, 2.0, 1.0], [None, None, 3.0], [None, None, None]], "backbone": "zoo:bert-tiny"}


@FEW
@given(data=st.data())
def test_mutated_and_retyped_scores_files(place, data):
    doc = _scores_doc()
    if data.draw(st.booleans()):
        doc[data.draw(st.sampled_from(sorted(doc)))] = data.draw(json_values())
        content = json.dumps(doc).encode()
    else:
        content = data.draw(mutated(json.dumps(doc).encode()))
    (place / "scores.json").write_bytes(content)
    out = place / "out"
    run_bounded(lambda: main(["select", str(place / "scores.json"), "-k", "1", "-o", str(out / "s.adapt")]),
                place, out)


@pytest.fixture(scope="module")
def adapter_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("adapter") / "a.safetensors"
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n'))
    adaptgraph.save_adapters(model, path)
    return path.read_bytes()


@FEW
@given(data=st.data())
def test_mutated_adapter_files(place, adapter_bytes, data):
    from adaptgraph.compiler.adapter_files import read_adapter_file

    path = place / "a.safetensors"
    path.write_bytes(data.draw(mutated(adapter_bytes)))
    run_bounded(lambda: read_adapter_file(path), place)


@FEW
@given(data=st.data())
def test_adapter_files_with_hostile_metadata(place, adapter_bytes, data):
    from safetensors.torch import load, save

    from adaptgraph.compiler.adapter_files import read_adapter_file
    from adaptgraph.fileio.safetensors_files import check_safetensors

    tensors = load(adapter_bytes)
    (place / "orig.safetensors").write_bytes(adapter_bytes)
    meta = dict(check_safetensors(place / "orig.safetensors")["__metadata__"])
    (place / "orig.safetensors").unlink()
    key = data.draw(st.sampled_from(sorted(meta) + ["task", "head", "train_config", "task_seed"]))
    value = data.draw(st.one_of(st.text(max_size=40), json_values().map(json.dumps),
                                st.sampled_from(["/dev/zero", "lm:/dev/zero", "9" * 400, "[" * 5000, "-3", "1.5"])))
    path = place / "a.safetensors"
    path.write_bytes(save(tensors, metadata={**meta, key: value}))
    run_bounded(lambda: read_adapter_file(path), place)
    if key in ("task", "head", "task_seed"):  # what `eval RUN` reads of a run's metadata
        from adaptgraph.tasks import load_task
        run_bounded(lambda: load_task(value), place)
