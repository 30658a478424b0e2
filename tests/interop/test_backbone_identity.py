"""Adapter files identify their backbone by fingerprint: a moved hf: folder reloads, another model is refused."""
import shutil

import pytest
import torch

import adaptgraph
from adaptgraph.errors import AdapterFileError
from adaptgraph.compiler.adapter_files import load_adapters, read_adapter_file, save_adapters
from tiny_hf import perturb, transformers

pytestmark = pytest.mark.hf


@pytest.fixture()
def saved(tmp_path, bert_dir):
    folder = tmp_path / "models" / "bert"
    shutil.copytree(bert_dir, folder)
    model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{folder}"\nparallel encoder.layer.0.output.dense')))
    save_adapters(model, tmp_path / "a.safetensors")
    return model, folder, tmp_path / "a.safetensors"


def test_a_moved_folder_reloads_under_its_new_name(saved, tmp_path, monkeypatch):
    from adaptgraph.backbones import cache

    model, folder, path = saved
    monkeypatch.setattr(cache, "_BACKBONES", {})  # as in a new process: nothing loaded yet
    assert read_adapter_file(path).metadata["backbone_fingerprint"].startswith("sha256:")
    moved = shutil.move(str(folder), str(tmp_path / "elsewhere"))
    with pytest.raises(AdapterFileError) as e:
        load_adapters(path)
    assert "its backbone" in str(e.value) and "--backbone hf:NEW/PATH" in str(e.value)
    again = load_adapters(path, f"hf:{moved}")
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
    mask = (ids > 0).long()
    with torch.no_grad():
        assert torch.equal(again(ids, mask), model(ids, mask))


def test_eval_merge_and_export_say_how_to_name_a_moved_folder(saved, tmp_path, monkeypatch, capsys):
    """The commands that read a saved file's backbone (eval, merge, export) gave only 'unknown backbone'."""
    from adaptgraph.backbones import cache
    from adaptgraph.cli import main

    _, folder, path = saved
    monkeypatch.setattr(cache, "_BACKBONES", {})
    shutil.move(str(folder), str(tmp_path / "elsewhere"))
    for command in (["merge", str(path), "--out", str(tmp_path / "merged"), "--no-progress"],  # no log lines
                    ["export", str(path), "--format", "peft", "--out", str(tmp_path / "peft")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: its backbone 'hf:{folder}' cannot be loaded") and "--backbone hf:NEW/PATH" in err


def test_another_model_is_refused_even_at_the_same_place(saved, tmp_path):
    _, folder, path = saved
    other = tmp_path / "other"
    changed = transformers.AutoModel.from_pretrained(folder)
    with torch.no_grad():
        changed.encoder.layer[1].output.dense.weight[0, 0] += 1e-3  # one weight differs
    changed.save_pretrained(other)
    with pytest.raises(AdapterFileError, match="was saved for another model: backbone 'hf:.*other' has fingerprint"):
        load_adapters(path, f"hf:{other}")
