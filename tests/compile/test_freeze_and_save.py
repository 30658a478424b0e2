"""Freezing, the caller's backbone left alone, and save/load round trips."""
from __future__ import annotations

import copy

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.errors import AdapterFileError
from adaptgraph.compiler.adapter_files import load_adapters, save_adapters

SPEC = "edge @1 -> @3 { scale = learn }\nrecurrent @6 -> @2\ntrain blocks.3.norm2, norm"


def snapshot(module):
    return ({k: v.clone() for k, v in module.state_dict().items()},
            {k: p.requires_grad for k, p in module.named_parameters()},
            module.training, [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules()])


def same(a, b):
    return (a[0].keys() == b[0].keys() and all(torch.equal(a[0][k], b[0][k]) for k in a[0])
            and a[1:] == b[1:])


@pytest.fixture()
def vit():
    return load_backbone("zoo:vit-tiny")


def train_steps(model, x, steps=3):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    model.eval()


def test_gradients_reach_adapters_and_train_modules_only(vit):
    model = adaptgraph.compile(adaptgraph.loads(SPEC), vit)
    with torch.no_grad():  # make the up-projections non-zero so every adapter parameter gets a gradient
        for name, p in model.adapters.named_parameters():
            p.normal_(0, 0.1)
    model(vit.example_inputs[0]).pow(2).mean().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == trainable
    assert all(n.startswith(("adapters.", "blocks.3.norm2.", "norm.")) for n in trainable)
    assert any(n.startswith("blocks.3.norm2.") for n in trainable) and any(n.startswith("norm.") for n in trainable)
    assert model.adaptgraph.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_caller_backbone_untouched(vit, tmp_path):
    before = snapshot(vit.module)
    model = adaptgraph.compile(adaptgraph.loads(SPEC), vit)
    train_steps(model, vit.example_inputs[0])
    save_adapters(model, tmp_path / "a.safetensors")
    load_adapters(tmp_path / "a.safetensors", vit)
    assert same(before, snapshot(vit.module))


def test_save_load_bit_exact(vit, tmp_path):
    model = adaptgraph.compile(adaptgraph.loads(SPEC), vit)
    train_steps(model, vit.example_inputs[0])
    path = tmp_path / "a.safetensors"
    save_adapters(model, path)
    again = load_adapters(path, vit)
    x = vit.example_inputs[0]
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_load_by_reference_alone(tmp_path):
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:vit-tiny"\nedge @2 -> @5'))
    train_steps(model, load_backbone("zoo:vit-tiny").example_inputs[0], steps=1)
    save_adapters(model, tmp_path / "a.safetensors")
    again = load_adapters(tmp_path / "a.safetensors")
    x = load_backbone("zoo:vit-tiny").example_inputs[0]
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_refuses_other_backbone(vit, tmp_path):
    model = adaptgraph.compile(adaptgraph.loads("edge @2 -> @5"), "zoo:vit-tiny")
    save_adapters(model, tmp_path / "a.safetensors")
    with pytest.raises(AdapterFileError) as e:
        load_adapters(tmp_path / "a.safetensors", "zoo:gpt-tiny")
    from adaptgraph.backbones.identity import weights_digest

    want, got = weights_digest(load_backbone("zoo:vit-tiny")), weights_digest(load_backbone("zoo:gpt-tiny"))
    assert str(e.value) == (f"error: {tmp_path / 'a.safetensors'} was saved for another model: backbone "
                            f"'zoo:gpt-tiny' has fingerprint {got}, the file's backbone 'zoo:vit-tiny' had {want}"
                            "\n    hint: load it on the model it was trained on: same config, same weights "
                            "(the same folder, wherever it is now)")


def test_refuses_other_spec(vit, tmp_path):
    from adaptgraph.compiler.adapter_files import load_weights, read_adapter_file

    a = adaptgraph.compile(adaptgraph.loads("spec a\nedge @2 -> @5"), vit)
    b = adaptgraph.compile(adaptgraph.loads("spec b\nedge @2 -> @6"), vit)
    save_adapters(a, tmp_path / "a.safetensors")
    with pytest.raises(AdapterFileError, match="was saved for spec a .* not for this model's spec b"):
        load_weights(b, read_adapter_file(tmp_path / "a.safetensors"), "a.safetensors")


def test_refuses_non_adapter_files(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(AdapterFileError, match="not a safetensors file"):
        load_adapters(tmp_path / "junk.safetensors")
    with pytest.raises(AdapterFileError, match="cannot read the adapter file"):
        load_adapters(tmp_path / "missing.safetensors")


def test_compile_is_deterministic(vit):
    a = adaptgraph.compile(adaptgraph.loads("edge @1 -> @3 { init = normal }"), vit)
    b = adaptgraph.compile(adaptgraph.loads("edge @1 -> @3 { init = normal }"), vit)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_torch_compile_same_outputs_and_gradients(vit):
    # aot_eager runs dynamo and AOTAutograd (what inductor builds on) without a C++ toolchain's minutes of
    # kernel compilation; the default inductor backend also works, it is just too slow for the suite.
    model = adaptgraph.compile(adaptgraph.loads("edge @1 -> @3 { init = normal }\nrecurrent @7 -> @2 { init = normal }"), vit)
    x = vit.example_inputs[0]
    fast = torch.compile(copy.deepcopy(model), backend="aot_eager")
    out_fast, out = fast(x), model(x)
    torch.testing.assert_close(out_fast, out, rtol=1e-5, atol=1e-6)
    out_fast.pow(2).mean().backward()
    out.pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    for n, p in fast.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.grad, grads[n.removeprefix("_orig_mod.")], rtol=1e-4, atol=1e-6)
