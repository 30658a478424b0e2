"""``hf:PATH?dtype=...``: weights load straight into the chosen type; float32 stays the default."""
from __future__ import annotations

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.backbones.hf_options import HfOptions, split_hf_options
from adaptgraph.errors import BackboneError

transformers = pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytestmark = pytest.mark.hf


def _save_tiny_bert(folder, dtype=torch.float32):
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    model = transformers.BertModel(config).to(dtype).eval()
    model.save_pretrained(folder)
    return model


def _dtypes(backbone):
    return {p.dtype for p in backbone.module.parameters()}


def test_float32_is_the_default_even_for_a_bfloat16_checkpoint(tmp_path):
    _save_tiny_bert(tmp_path, torch.bfloat16)
    assert _dtypes(load_backbone(f"hf:{tmp_path}")) == {torch.float32}
    assert _dtypes(load_backbone(f"hf:{tmp_path}?dtype=auto")) == {torch.bfloat16}  # the checkpoint's own


def test_dtype_option_loads_bfloat16_weights_equal_to_the_rounded_float32_ones(tmp_path):
    saved = _save_tiny_bert(tmp_path)
    backbone = load_backbone(f"hf:{tmp_path}?dtype=bfloat16")
    assert backbone.ref == f"hf:{tmp_path}?dtype=bfloat16" and _dtypes(backbone) == {torch.bfloat16}
    want = dict(saved.named_parameters())
    for name, p in backbone.module.named_parameters():
        assert torch.equal(p, want[name].to(torch.bfloat16)), name


def test_a_bfloat16_backbone_compiles_and_trains(tmp_path):
    _save_tiny_bert(tmp_path)
    bb = load_backbone(f"hf:{tmp_path}?dtype=bfloat16")
    model = adaptgraph.compile(adaptgraph.loads("parallel @0 -> @1\nedge @1 -> @4"), bb)
    with torch.no_grad():
        assert torch.equal(model(*bb.example_inputs), bb.module(*bb.example_inputs))  # zero-init: unchanged
    out = model(*bb.example_inputs)
    assert out.dtype == torch.bfloat16
    out.float().pow(2).mean().backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    # adapters keep float32 weights (as PEFT does for half-precision bases) and get gradients
    assert trained and all(p.dtype == torch.float32 and p.grad is not None for p in trained)


def test_options_are_split_from_the_path():
    assert split_hf_options("/models/x") == ("/models/x", HfOptions("float32"))
    assert split_hf_options("/models/x?dtype=float16") == ("/models/x", HfOptions("float16"))
    assert HfOptions("bfloat16").from_pretrained_kwargs() == {"dtype": torch.bfloat16}


def test_unknown_dtype_and_option_are_refused_with_a_hint():
    with pytest.raises(BackboneError) as err:
        split_hf_options("/m?dtype=bfloat61")
    assert str(err.value) == ("error: backbone 'hf:/m?dtype=bfloat61': unknown dtype 'bfloat61'\n"
                              "    hint: did you mean 'bfloat16' or 'float16' or 'float32'?")
    with pytest.raises(BackboneError) as err:
        split_hf_options("/m?dtpye=float16")
    assert str(err.value) == ("error: unknown option 'dtpye' of backbone 'hf:/m?dtpye=float16'\n"
                              "    hint: did you mean 'dtype'?")
