"""Every zoo model: loads, is deterministic, runs, has the promised names, traces with fx."""
import operator

import pytest
import torch
from torch import nn

from adaptgraph.backbones import load_backbone
from adaptgraph.backbones.zoo.catalog import ZOO

TINY = ["zoo:vit-tiny", "zoo:gpt-tiny", "zoo:bert-tiny", "zoo:resnet-tiny", "zoo:convnext-tiny"]
OUTPUT_SHAPES = {
    "zoo:vit-tiny": (2, 17, 64),
    "zoo:gpt-tiny": (2, 12, 64),
    "zoo:bert-tiny": (2, 12, 64),
    "zoo:resnet-tiny": (2, 64, 8, 8),
    "zoo:convnext-tiny": (2, 48, 4, 4),
    "zoo:vit-base-shape": (2, 197, 768),
}


def _names(backbone):
    return {name for name, _ in backbone.module.named_modules()}


def test_zoo_lists_every_tested_model():
    assert sorted(f"zoo:{n}" for n in ZOO) == sorted(OUTPUT_SHAPES)


@pytest.mark.parametrize("ref", TINY)
def test_loads_in_eval_mode_with_fx_frontend(ref):
    backbone = load_backbone(ref)
    assert backbone.ref == ref
    assert backbone.frontend == "fx" and backbone.leaf_modules == ()
    assert not any(m.training for m in backbone.module.modules())


@pytest.mark.parametrize("ref", TINY)
def test_same_weights_and_inputs_on_every_load(ref):
    rng_before = torch.random.get_rng_state()
    first, second = load_backbone(ref), load_backbone(ref)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's RNG is untouched
    a, b = first.module.state_dict(), second.module.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(x, y) for x, y in zip(first.example_inputs, second.example_inputs))


def test_different_models_get_different_seeds():
    vit_a = load_backbone("zoo:vit-tiny").module.pos_embed
    res = load_backbone("zoo:resnet-tiny").example_inputs[0]
    vit_x = load_backbone("zoo:vit-tiny").example_inputs[0]
    assert vit_a.abs().sum() > 0 and not torch.equal(res, vit_x)


@pytest.fixture(scope="module")
def vit_base():
    return load_backbone("zoo:vit-base-shape")  # about 1 s to build: share it


@pytest.mark.parametrize("ref", TINY)
def test_example_inputs_run_and_fx_trace_reproduces_them(ref):
    backbone = load_backbone(ref)
    assert all(x.shape[0] == 2 for x in backbone.example_inputs)
    with torch.no_grad():
        eager = backbone.module(*backbone.example_inputs)
        traced = torch.fx.symbolic_trace(backbone.module)(*backbone.example_inputs)
    assert eager.shape == OUTPUT_SHAPES[ref]
    assert torch.isfinite(eager).all()
    assert torch.equal(eager, traced)


def test_vit_base_shape_runs_and_traces(vit_base):
    (pixels,) = vit_base.example_inputs
    assert pixels.shape == (2, 3, 224, 224)
    one = pixels[:1]  # one image is enough to compare, and half the cost of a big forward
    with torch.no_grad():
        eager = vit_base.module(one)
        traced = torch.fx.symbolic_trace(vit_base.module)(one)
    assert eager.shape == (1,) + OUTPUT_SHAPES["zoo:vit-base-shape"][1:]
    assert torch.isfinite(eager).all() and torch.equal(eager, traced)


def test_image_backbones_describe_their_inputs(vit_base):
    vit = load_backbone("zoo:vit-tiny")
    assert (vit.modality, vit.input_names, vit.image_shape, vit.tokenizer) == ("image", ("pixels",), (3, 32, 32), None)
    assert vit.example_inputs[0].shape == (2, 3, 32, 32) and vit.example_inputs[0].dtype == torch.float32
    base = vit_base
    assert base.image_shape == (3, 224, 224)
    assert len(base.module.blocks) == 12 and base.module.pos_embed.shape == (1, 197, 768)
    assert base.module.blocks[0].attn.heads == 12


@pytest.mark.parametrize("ref", ["zoo:gpt-tiny", "zoo:bert-tiny"])
def test_text_backbones_describe_their_inputs(ref):
    backbone = load_backbone(ref)
    assert (backbone.modality, backbone.input_names, backbone.image_shape) == (
        "text", ("input_ids", "attention_mask"), None)
    ids, mask = backbone.example_inputs
    assert ids.dtype == mask.dtype == torch.long
    assert mask.tolist()[0].count(0) > 0, "the example batch must exercise padding"
    batch = backbone.tokenizer(["one more text"], max_length=8)
    assert backbone.module(batch["input_ids"], batch["attention_mask"]).shape == (1, 5, 64)


def test_vit_tiny_names_follow_timm():
    vit = load_backbone("zoo:vit-tiny")
    names = _names(vit)
    for block in range(4):
        for part in ["norm1", "attn", "attn.qkv", "attn.proj", "norm2", "mlp", "mlp.fc1", "mlp.act", "mlp.fc2"]:
            assert f"blocks.{block}.{part}" in names
    assert {"patch_embed", "patch_embed.proj", "blocks", "norm", "head"} <= names
    assert isinstance(vit.module.blocks, nn.Sequential) and isinstance(vit.module.head, nn.Identity)
    assert isinstance(vit.module.patch_embed.proj, nn.Conv2d)
    params = dict(vit.module.named_parameters())
    assert params["cls_token"].shape == (1, 1, 64) and params["pos_embed"].shape == (1, 17, 64)


def test_gpt_and_bert_names_follow_hugging_face():
    gpt = _names(load_backbone("zoo:gpt-tiny"))
    assert {"wte", "wpe", "h", "ln_f", "h.3.ln_1", "h.3.attn", "h.3.attn.c_attn", "h.3.attn.c_proj",
            "h.3.ln_2", "h.3.mlp", "h.3.mlp.c_fc", "h.3.mlp.c_proj"} <= gpt
    bert = _names(load_backbone("zoo:bert-tiny"))
    assert {"embeddings", "embeddings.LayerNorm", "embeddings.word_embeddings",
            "encoder.layer.3.attention.self", "encoder.layer.3.attention.self.query",
            "encoder.layer.3.attention.output.dense", "encoder.layer.3.attention.output.LayerNorm",
            "encoder.layer.3.intermediate", "encoder.layer.3.intermediate.dense",
            "encoder.layer.3.output.dense", "encoder.layer.3.output.LayerNorm"} <= bert


def test_resnet_stages_change_width_and_size():
    resnet = load_backbone("zoo:resnet-tiny").module
    x = load_backbone("zoo:resnet-tiny").example_inputs[0]
    shapes = []
    with torch.no_grad():
        x = resnet.relu(resnet.bn1(resnet.conv1(x)))
        for stage in (resnet.layer1, resnet.layer2, resnet.layer3):
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert isinstance(resnet.layer2[0].downsample, nn.Sequential)


def _adds(module: nn.Module) -> int:
    graph = torch.fx.symbolic_trace(module).graph
    return sum(1 for n in graph.nodes if n.op == "call_function" and n.target in (operator.add, torch.add))


@pytest.mark.parametrize("ref, block", [("zoo:vit-tiny", "blocks.0"), ("zoo:gpt-tiny", "h.0"),
                                        ("zoo:bert-tiny", "encoder.layer.0"),
                                        ("zoo:resnet-tiny", "layer1.0")])
def test_residual_adds_per_block(ref, block):
    module = load_backbone(ref).module.get_submodule(block)
    assert _adds(module) == (1 if ref == "zoo:resnet-tiny" else 2)


def test_bert_ignores_padding():
    bert = load_backbone("zoo:bert-tiny")
    alone = bert.tokenizer(["short text"], max_length=32)
    padded = bert.tokenizer(["short text", "a much longer text with many more words in it"], max_length=32)
    with torch.no_grad():
        out_alone = bert.module(alone["input_ids"], alone["attention_mask"])[0]
        out_padded = bert.module(padded["input_ids"], padded["attention_mask"])[0, : out_alone.shape[0]]
    assert padded["input_ids"].shape[1] > out_alone.shape[0]
    torch.testing.assert_close(out_padded, out_alone, atol=1e-5, rtol=1e-5)


def test_gpt_is_causal():
    gpt = load_backbone("zoo:gpt-tiny")
    ids, mask = gpt.example_inputs
    changed = ids.clone()
    changed[:, -1] = 7
    with torch.no_grad():
        a, b = gpt.module(ids, mask), gpt.module(changed, mask)
    assert torch.equal(a[:, :-1], b[:, :-1]) and not torch.equal(a[:, -1], b[:, -1])


def test_gpt_starts_as_gpt2_does_with_a_loss_near_log_vocab():
    """GPT-2's init (N(0, 0.02), zero biases, scaled residual projections) and the tied head give small
    logits at step 0: the next-token loss on random tokens is log(vocab) plus at most a few hundredths
    (the logits' spread is about 0.02 * |h| ~ 0.16 for width 64, adding about half its square)."""
    import math

    import torch.nn.functional as F

    from adaptgraph.backbones.zoo.gpt import INIT_STD

    gpt = load_backbone("zoo:gpt-tiny").module
    vocab, depth = gpt.wte.num_embeddings, len(gpt.h)
    ids = torch.randint(0, vocab, (4, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = gpt(ids, torch.ones_like(ids)) @ gpt.wte.weight.T
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    assert abs(float(loss) - math.log(vocab)) < 0.05
    assert float(gpt.h[0].attn.c_attn.bias.detach().abs().max()) == 0.0 and float(gpt.ln_f.weight.detach().min()) == 1.0
    assert abs(float(gpt.h[0].mlp.c_proj.weight.detach().std()) - INIT_STD / math.sqrt(2 * depth)) < 1e-3
    assert abs(float(gpt.h[0].mlp.c_fc.weight.detach().std()) - INIT_STD) < 1e-3
