"""An adapter on a module the forward calls several times (ALBERT's one shared layer) sits on its first
call only (its ports are the first call's). A fold into the weight, or PEFT's LoRA, would change every
call: merge and PEFT export refuse such an edge by name instead of writing a model that computes something
else, and `merge --keep-unmerged` keeps it as an adapter, with the compiled model's outputs."""
from __future__ import annotations

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import get_backbone
from adaptgraph.errors import InteropError
from adaptgraph.interop import export_peft, merge
from adaptgraph.compiler.adapter_files import load_adapters, save_adapters
from tiny_hf import perturb, transformers

pytestmark = pytest.mark.hf
SHARED = "encoder.albert_layer_groups.0.albert_layers.0.attention.query"  # runs once per layer: 3 times
ONCE = "encoder.embedding_hidden_mapping_in"  # runs once
LORA = "defaults { act = none, norm = none, bias = false, init = lora, rank = 4 }\n"


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    root = tmp_path_factory.mktemp("albert")
    config = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                                       num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.AlbertModel(config).save_pretrained(root / "albert")
    spec = adaptgraph.loads(f'backbone "hf:{root / "albert"}"\n{LORA}parallel {SHARED}\nparallel {ONCE}\n')
    save_adapters(perturb(adaptgraph.compile(spec), std=0.5), root / "adapters.safetensors")
    return root / "adapters.safetensors"


def test_peft_export_refuses_an_adapter_on_a_shared_module(adapters, tmp_path):
    with pytest.raises(InteropError) as caught:
        export_peft(adapters, tmp_path / "peft")
    lines = str(caught.value).splitlines()
    assert lines[1:-1] == [f"  {SHARED.replace('.', '_')}: {SHARED} runs 3 times in the forward (a shared module) "
                         f"and the adapter changes its first call only; PEFT's LoRA on it would change all 3"]
    assert not (tmp_path / "peft").exists()  # the edge on the module called once is no reason to write a half


def test_merge_refuses_it_and_keep_unmerged_keeps_it_with_the_same_outputs(adapters, tmp_path):
    with pytest.raises(InteropError, match=f"{SHARED} runs 3 times in the forward .* a fold into its weight would "
                                           "change all 3"):
        merge(adapters, tmp_path / "merged")
    done = merge(adapters, tmp_path / "kept", keep_unmerged=True)
    assert done.merged == (ONCE.replace(".", "_"),) and done.kept == (SHARED.replace(".", "_"),)
    inputs = get_backbone(f"hf:{adapters.parent / 'albert'}").example_inputs
    with torch.no_grad():
        want = load_adapters(adapters)(*inputs)
        got = load_adapters(tmp_path / "kept" / "adapters.safetensors")(*inputs)  # merged folder + the kept edge
        without = adaptgraph.compile(f"{tmp_path / 'kept' / 'spec.adapt'}")  # the merged folder alone (kept: zero)
        assert (without(*inputs) - want).abs().max() > 1e-3  # the kept edge matters: the check below can fail
    # float32 sums of width 32 with the fold computed in another order: a few ulps of values of order 1
    assert (got - want).abs().max() <= 1e-5
