"""Hostile config.json, adapter_config.json and PEFT patterns; outputs over inputs (issue 21, classes 2, 4, 5, 8)."""
import json
import re
import shutil
import time

import pytest

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.cli import main
from adaptgraph.errors import BackboneError, InteropError
from adaptgraph.interop.peft_import import import_peft
from adaptgraph.compiler.adapter_files import save_adapters
from tiny_hf import perturb

peft = pytest.importorskip("peft", reason="PEFT checkpoints are made with peft (the dev extra)")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.fixture()
def model_copy(tmp_path, bert_dir):
    folder = tmp_path / "model"
    shutil.copytree(bert_dir, folder)
    return folder


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": "32"}, "field 'hidden_size': Input should be a valid integer (found '32')"),
    ({"vocab_size": 4e9}, "field 'vocab_size': Input should be a valid integer (found 4000000000.0)"),
    ({"vocab_size": 4_000_000_000}, "field 'vocab_size': Input should be less than or equal to 4194304"),
    ({"num_hidden_layers": -1}, "field 'num_hidden_layers': Input should be greater than or equal to 0"),
    ({"architectures": "BertModel"}, "field 'architectures': Input should be a valid list"),
])
def test_a_config_json_with_hostile_values_names_the_file_and_the_field(model_copy, change, message):
    path = model_copy / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(BackboneError) as e:
        get_backbone(f"hf:{model_copy}")
    assert f"{path}: {message}" in str(e.value), str(e.value)


@pytest.mark.parametrize("content, message", [
    (b"[" * 100_000, "the JSON nests too deeply"), (b'{"model_type": "\xff"}', "not UTF-8 text (byte 0xff)"),
])
def test_a_damaged_config_json_is_a_backbone_error(model_copy, content, message):
    (model_copy / "config.json").write_bytes(content)
    with pytest.raises(BackboneError, match=re.escape(message)):
        get_backbone(f"hf:{model_copy}")


def test_model_weights_whose_header_claims_more_than_the_file_holds_are_refused_before_mapping(model_copy):
    weights = model_copy / "model.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes(raw[: len(raw) // 2])  # cut in half: the header now declares bytes that are not there
    with pytest.raises(BackboneError, match="declares bytes .* beyond the"):
        get_backbone(f"hf:{model_copy}")


@pytest.mark.parametrize("damage, message", [
    ("empty", "(EOFError)"), ("garbage", "its pickle is damaged or holds more than tensors"),
    ("cut", "PytorchStreamReader failed"), ("tensor", "it holds a Tensor, not a mapping of names to tensors"),
    ("code", "its pickle is damaged or holds more than tensors"),
])
def test_damaged_pytorch_weights_are_a_backbone_error_naming_the_file(model_copy, tmp_path, damage, message, capsys):
    """Regression: a folder with a damaged pytorch_model.bin (and no safetensors) ended in torch.load inside
    transformers as an internal error (UnpicklingError, EOFError, miniz's RuntimeError); a pickle that would
    run code is refused the same way and runs nothing."""
    import os

    import torch

    state = {k: v for k, v in transformers.AutoModel.from_pretrained(model_copy).state_dict().items()}
    (model_copy / "model.safetensors").unlink()
    weights, marker = model_copy / "pytorch_model.bin", tmp_path / "ran"
    torch.save(state, weights)
    whole = weights.read_bytes()

    class Code:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    if damage == "tensor":
        torch.save(torch.zeros(3), weights)
    elif damage == "code":
        torch.save({"x": Code()}, weights)
    else:
        weights.write_bytes({"empty": b"", "garbage": b"\x80\x02" + bytes(range(256)), "cut": whole[:-300]}[damage])
    capsys.readouterr()  # transformers' own progress while the state was made
    assert main(["points", f"hf:{model_copy}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {weights}: not a PyTorch weights file") and message in err, err
    assert "internal error" not in err and not marker.exists()


@pytest.fixture()
def peft_dir(tmp_path, bert_dir):
    base = transformers.AutoModel.from_pretrained(bert_dir).eval()
    folder = tmp_path / "peft"
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"])).save_pretrained(folder)
    return folder


def _edit_config(folder, text_change):
    path = folder / "adapter_config.json"
    path.write_text(text_change(path.read_text()))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda t: re.sub(r'"lora_alpha": \d+', '"lora_alpha": 1e999', t), "field 'lora_alpha': Input should be a finite"),
    (lambda t: re.sub(r'"lora_alpha": \d+', '"lora_alpha": ' + "9" * 400, t),
     "field 'lora_alpha': Input should be a valid number"),
    (lambda t: re.sub(r'"lora_alpha": \d+', '"lora_alpha": 1e300', t), "field 'lora_alpha': Input should be less"),
    (lambda t: re.sub(r'"r": \d+', '"r": 1e9', t), "field 'r': Input should be a valid integer"),
    (lambda t: "[" * 100_000, "adapter_config.json: the JSON nests too deeply"),
])
def test_a_hostile_adapter_config_names_the_file_and_the_field(tmp_path, peft_dir, edit, message):
    path = _edit_config(peft_dir, edit)
    with pytest.raises(InteropError) as e:
        import_peft(peft_dir, tmp_path / "imported")
    assert message in str(e.value) and str(path) in str(e.value), str(e.value)
    assert not (tmp_path / "imported").exists()


def test_a_catastrophic_or_invalid_pattern_is_bounded_and_a_user_error(tmp_path, peft_dir):
    path = peft_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "alpha_pattern": {"(.*)*(.*)*(.*)*Z": 4}}))
    start = time.perf_counter()
    import_peft(peft_dir, tmp_path / "a")  # no module ends with Z: PEFT's own alpha applies
    assert time.perf_counter() - start < 30
    path.write_text(json.dumps({**config, "alpha_pattern": {"((query": 4}}))
    with pytest.raises(InteropError, match=r"alpha_pattern\['\(\(query'\] is not a valid regular expression"):
        import_peft(peft_dir, tmp_path / "b")


def test_a_pattern_keeps_peft_semantics(tmp_path, peft_dir):
    from adaptgraph.fileio.patterns import pattern_key
    from peft.utils.other import get_pattern_key

    names = ["encoder.layer.0.attention.self.query", "encoder.layer.1.attention.self.query", "query", "xquery"]
    for keys in (["query"], ["layer.0.attention.self.query"], [r"layer\.\d\.attention.self.query"], ["q.*"],
                 ["1.attention.self.query", "query"]):
        for name in names:
            ours = pattern_key(keys, name, "x", "alpha_pattern")
            assert (ours or name) == get_pattern_key(keys, name), (keys, name)


def test_an_import_from_a_folder_with_a_quote_and_non_ascii_letters(tmp_path, peft_dir):
    odd = tmp_path / 'modèle "ünï" \\ lora'
    shutil.copytree(peft_dir, odd)
    result = import_peft(odd, tmp_path / "imported")
    spec = adaptgraph.load(result.spec_path)
    assert spec.name.isascii() and spec.name.isidentifier()
    assert adaptgraph.load_adapters(result.adapters_path) is not None


def test_merge_into_its_own_backbone_folder_is_refused_and_the_model_survives(tmp_path, bert_dir, capsys):
    model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel '
                                                        "encoder.layer.0.attention.self.value { bias = false }\n")))
    save_adapters(model, tmp_path / "a.safetensors")
    assert main(["merge", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "merged")]) == 0
    before = (tmp_path / "merged" / "model.safetensors").read_bytes()
    # a spec on the merged folder, merged back into that same folder
    on_merged = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{tmp_path / "merged"}"\nparallel '
                                                            "encoder.layer.1.attention.self.value { bias = false }\n")))
    save_adapters(on_merged, tmp_path / "b.safetensors")
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "b.safetensors"), "--out", str(tmp_path / "merged")]) == 1
    err = capsys.readouterr().err
    assert "the output folder is the backbone folder" in err and "Traceback" not in err
    assert (tmp_path / "merged" / "model.safetensors").read_bytes() == before
    get_backbone(f"hf:{tmp_path / 'merged'}")  # the base model is still whole


def test_merge_into_a_link_to_a_folder_is_refused_before_anything_is_written(tmp_path, bert_dir, capsys):
    """Regression: the lock file was written into the folder the link names, then the merge was refused."""
    model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel '
                                                        "encoder.layer.0.attention.self.value { bias = false }\n")))
    save_adapters(model, tmp_path / "a.safetensors")
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    assert main(["merge", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "refusing to replace a symbolic link with a folder" in err and "Traceback" not in err
    assert list((tmp_path / "real").iterdir()) == [] and (tmp_path / "out").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "out", "real"]


def test_a_merge_that_fails_half_way_leaves_the_old_folder_whole(tmp_path, bert_dir, monkeypatch, capsys):
    import errno

    model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\nparallel '
                                                        "encoder.layer.0.attention.self.value { bias = false }\n")))
    save_adapters(model, tmp_path / "a.safetensors")
    assert main(["merge", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "merged")]) == 0
    before = sorted(p.name for p in (tmp_path / "merged").iterdir())
    weights = (tmp_path / "merged" / "model.safetensors").read_bytes()

    def full_disk(self, folder, **kw):
        (folder / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", full_disk)
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "merged"), "--no-progress"]) == 1
    err = capsys.readouterr().err  # without progress lines, the error alone
    assert "cannot write the merged model (the disk is full)" in err and len(err.splitlines()) <= 2
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == before
    assert (tmp_path / "merged" / "model.safetensors").read_bytes() == weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "merged"]  # no stage left behind
