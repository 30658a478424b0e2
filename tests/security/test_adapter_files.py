"""Tampered adapter files and run folders: every damage is refused with the project's own error
(exit 1 from the CLI, never an internal error), before a number is reported."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from adaptgraph.backbones import load_backbone
from adaptgraph.backbones.identity import weights_digest
from adaptgraph.cli import main
from adaptgraph.errors import AdapterFileError
from adaptgraph.compiler.adapter_files import FINGERPRINT_KEY, load_adapters

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"
EDITED = "    hint: the file was changed after adaptgraph wrote it: use the file `adaptgraph train` or save_adapters wrote"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    spec = folder / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2, init = normal }\n')
    assert main(["train", str(spec), "--task", TASK, "--epochs", "1", "--out", str(folder / "run"),
                 "--no-progress"]) == 0
    return folder / "run"


@pytest.fixture()
def run(trained, tmp_path) -> Path:
    """A copy of the trained run, to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def rewrite(path: Path, tensors=None, metadata=None) -> None:
    """Write ``path`` again with some tensors (None: drop) or metadata entries (None: drop) replaced."""
    old_tensors, old_meta = read(path)
    new_tensors = {k: v for k, v in {**old_tensors, **(tensors or {})}.items() if v is not None}
    new_meta = {k: v for k, v in {**old_meta, **(metadata or {})}.items() if v is not None}
    save_file(new_tensors, str(path), metadata=new_meta)


def set_header_dtype(path: Path, name: str, dtype: str) -> None:
    """Change one tensor's dtype in the header only: the same bytes, read as another type."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header[name]["dtype"] = dtype
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])


def adapter_name(path: Path) -> str:
    return sorted(k for k in read(path)[0] if k.startswith("adapters."))[0]


def eval_fails(run: Path, capsys, *extra) -> str:
    """``adaptgraph eval RUN`` exits 1 with the project's message; returns it."""
    code = main(["eval", str(run), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "internal error" not in err, err
    return err


def test_eval_on_another_backbone_is_refused(run, capsys):
    err = eval_fails(run, capsys, "--backbone", "zoo:gpt-tiny")
    want = weights_digest(load_backbone("zoo:bert-tiny"))
    assert err.startswith(f"error: {run / 'adapters.safetensors'} was saved for another model: backbone 'zoo:gpt-tiny' "
                          f"has fingerprint {weights_digest(load_backbone('zoo:gpt-tiny'))}, the file's backbone "
                          f"'zoo:bert-tiny' had {want}\n")


@pytest.mark.parametrize("with_fingerprint", [True, False])
def test_load_adapters_checks_a_backbone_object(run, with_fingerprint):
    path = run / "adapters.safetensors"
    if not with_fingerprint:  # a file from before fingerprints: checked by the reference it was loaded as
        rewrite(path, metadata={FINGERPRINT_KEY: None})
    other = load_backbone("zoo:gpt-tiny")
    with pytest.raises(AdapterFileError) as e:
        load_adapters(path, other)
    text = str(e.value)
    assert ("was saved for another model" in text if with_fingerprint
            else text.startswith(f"error: {path} was saved for backbone 'zoo:bert-tiny', not 'zoo:gpt-tiny'\n"))
    assert load_adapters(path, load_backbone("zoo:bert-tiny")) is not None  # its own backbone, as an object


@pytest.mark.parametrize("dtype", ["I32", "U32"])
def test_a_dtype_changed_in_the_header_is_refused(run, dtype):
    path = run / "adapters.safetensors"
    name = adapter_name(path)
    set_header_dtype(path, name, dtype)
    with pytest.raises(AdapterFileError) as e:
        load_adapters(path)
    kind = {"I32": "int32", "U32": "uint32"}[dtype]
    assert str(e.value) == f"error: {path}: {name!r} is {kind} in the file, float32 in the model\n{EDITED}"


def test_a_head_tensor_read_as_another_type_is_refused(run, capsys):
    set_header_dtype(run / "adapters.safetensors", "head.linear.weight", "I32")
    err = eval_fails(run, capsys)
    assert err.startswith(f"error: {run / 'adapters.safetensors'} (head): 'linear.weight' is int32 in the file, "
                          "float32 in the head\n")


def test_a_boolean_head_tensor_is_refused(run, capsys):
    path = run / "adapters.safetensors"
    rewrite(path, tensors={"head.linear.bias": torch.ones(3, dtype=torch.bool)})
    err = eval_fails(run, capsys)
    assert err == f"error: {path}: tensor 'head.linear.bias' has dtype bool, which no weight has\n{EDITED}\n"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(run, capsys, value):
    path = run / "adapters.safetensors"
    name = adapter_name(path)
    tensor = read(path)[0][name].clone()
    tensor.view(-1)[0] = value
    rewrite(path, tensors={name: tensor})
    err = eval_fails(run, capsys)
    assert err.startswith(f"error: {path}: tensor {name!r} holds NaN or infinite values\n"
                          "    hint: the training that wrote it diverged")


@pytest.mark.parametrize("change, message", [
    ({"spec": None}, "the metadata has no 'spec'"),
    ({"head": None}, "the metadata has no 'head'"),
    ({"seed": "x"}, "the metadata's 'seed' is 'x', not a whole number below 2**63"),
    ({"task_seed": "-1"}, "the metadata's 'task_seed' is '-1', not a whole number below 2**63"),
    ({"seed": str(2**64)}, f"the metadata's 'seed' is '{2**64}', not a whole number below 2**63"),
    ({"head": "[" * 100000}, "the metadata's 'head' is not a JSON object"),
    ({"head": "[1, 2]"}, "the metadata's 'head' is not a JSON object"),
])
def test_missing_or_malformed_metadata_is_refused(run, capsys, change, message):
    path = run / "adapters.safetensors"
    rewrite(path, metadata=change)
    assert eval_fails(run, capsys) == f"error: {path}: {message}\n{EDITED}\n"


@pytest.mark.parametrize("change, message", [
    ({"head.linear.bias": None}, "the head needs 'linear.bias', which the file lacks"),
    ({"head.extra": torch.zeros(2)}, "the file has 'extra', which the head does not have"),
    ({"head.linear.bias": torch.zeros(4)}, "'linear.bias' has shape [4] in the file, [3] in the head"),
])
def test_missing_extra_or_misshapen_head_tensors_are_refused(run, capsys, change, message):
    rewrite(run / "adapters.safetensors", tensors=change)
    assert eval_fails(run, capsys) == f"error: {run / 'adapters.safetensors'} (head): {message}\n{EDITED}\n"


def test_a_head_description_cannot_make_eval_allocate(run, capsys):
    path = run / "adapters.safetensors"
    rewrite(path, metadata={"head": json.dumps({"feature_dim": 10**12, "num_classes": 3, "pooling": "auto"})})
    err = eval_fails(run, capsys)  # 3 x 10^12 floats would be 12 TB: checked on the meta device first
    assert err.startswith(f"error: {path} (head): 'linear.weight' has shape [3, 64] in the file, "
                          "[3, 1000000000000] in the head\n")


@pytest.mark.parametrize("change, message", [
    ({"adapters.extra": torch.zeros(2)}, "the file has 'adapters.extra', which the model does not have"),
    ("drop", "the model needs {name!r}, which the file lacks"),
    ("reshape", "{name!r} has shape [1, {n}] in the file, {shape} in the model"),
])
def test_missing_extra_or_misshapen_adapter_tensors_are_refused(run, change, message):
    path = run / "adapters.safetensors"
    name = adapter_name(path)
    tensor = read(path)[0][name]
    if change == "drop":
        change = {name: None}
    elif change == "reshape":
        change = {name: tensor.reshape(1, -1).contiguous()}
    rewrite(path, tensors=change)
    with pytest.raises(AdapterFileError) as e:
        load_adapters(path)
    expected = message.format(name=name, n=tensor.numel(), shape=list(tensor.shape))
    assert str(e.value) == f"error: {path}: {expected}\n{EDITED}"


@pytest.mark.parametrize("content, message", [
    (b"{not json", "1:2: not valid JSON (Expecting property name enclosed in double quotes)"),
    (b"\xff\xfe", "1: not UTF-8 text (byte 0xff)"),
    (b'{"task": "a", "task": "b"}', "the key 'task' appears twice in one object"),
    (b'{"num_classes": NaN}', "NaN is not a number a file may hold"),
    (b"[1, 2]", "metrics.json lacks a well-formed task, task_fingerprint, num_classes, config"),
    (None, "metrics.json lacks a well-formed config"),
    (b"[" * 100000, "the JSON nests too deeply"),
])
def test_an_invalid_metrics_json_is_refused(run, capsys, content, message):
    metrics = run / "metrics.json"
    if content is None:  # a finished run's metrics without the training config
        content = json.dumps({k: v for k, v in json.loads(metrics.read_text()).items() if k != "config"}).encode()
    metrics.write_bytes(content)
    err = eval_fails(run, capsys)
    assert err.startswith(f"error: {metrics}{':' if message[0].isdigit() else ': '}{message}"), err
    assert "hint: the run folder was changed after training" in err


def test_a_metrics_json_with_an_invalid_config_is_refused(run, capsys):
    metrics = run / "metrics.json"
    data = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**data, "config": {**data["config"], "lr": "fast"}}))
    assert eval_fails(run, capsys).startswith(f"error: {metrics}: its training config is not valid (")
