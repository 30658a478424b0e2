"""The frozen backbone of a compiled model stays in eval mode whatever mode the user sets (issue 12, item 6):
``model.train()`` on a compiled ResNet must not let frozen batch-norm statistics drift."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone

SPEC = "edge layer2.0.out -> layer2.1.out { init = normal, dropout = 0.5 }\ntrain layer3.1.bn2"


@pytest.fixture()
def resnet():
    bb = load_backbone("zoo:resnet-tiny")
    return bb, adaptgraph.compile(adaptgraph.loads(SPEC), bb)


def stats(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.clone() for n, b in module.named_buffers() if "running" in n or "num_batches" in n}


def modes(model: nn.Module) -> dict[str, bool]:
    return {n: m.training for n, m in model.named_modules()}


def forward_in(mode_setter, model, inputs):
    mode_setter()
    model(*inputs).sum().backward()


@pytest.mark.parametrize("how", ["model.train()", "wrapper.train()", "deepcopy", "apply-eval-then-train"])
def test_train_mode_leaves_frozen_batch_norm_statistics_alone(resnet, how):
    bb, model = resnet
    if how == "deepcopy":
        model = copy.deepcopy(model)
    wrapper = nn.Sequential(model)
    before_model, before_backbone = stats(model), stats(bb.module)
    setter = {"model.train()": model.train, "wrapper.train()": wrapper.train, "deepcopy": model.train,
              "apply-eval-then-train": lambda: model.eval().train()}[how]
    forward_in(setter, model, (torch.randn(4, 3, 32, 32),))
    after = stats(model)
    changed = sorted({n.rsplit(".", 1)[0] for n in after if not torch.equal(after[n], before_model[n])})
    assert changed == ["layer3.1.bn2"]  # only the batch norm the spec trains updates its statistics
    assert all(torch.equal(b, before_backbone[n]) for n, b in stats(bb.module).items())  # shared: unchanged too
    on = sorted(n for n, training in modes(model).items() if training)
    assert on == ["", "adapters", *sorted(n for n in modes(model) if n.startswith("adapters.")), "layer3.1.bn2"]


def test_adapter_dropout_is_on_in_train_mode_and_off_in_eval(resnet):
    _, model = resnet
    x = torch.randn(2, 3, 32, 32)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # the adapter's dropout (p = 0.5) draws new masks
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x)) and not any(modes(model).values())


def test_a_model_unfrozen_by_hand_trains_whole(resnet):
    _, model = resnet
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    assert all(modes(model).values())
