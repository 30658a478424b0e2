"""Modules whose last op is nn.Dropout (timm's Mlp, attention projections) adapt under every frontend."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptgraph

D = 8


class Block(nn.Module):
    """timm-style: attn and mlp both end in a Dropout, so their .out is the dropout's output under fx."""

    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.Sequential(nn.Linear(D, D), nn.Dropout(0.5))
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D), nn.Dropout(0.5))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(), Block())
        self.pos_drop = nn.Dropout2d(0.5)  # another dropout class: stripped alike

    def forward(self, x):
        return self.blocks(self.pos_drop(x.unsqueeze(-1)).squeeze(-1))


SPEC = "parallel blocks.1.mlp { init = normal }\nsequential blocks.0.attn { init = normal }\nedge blocks.0.mlp.out -> @-1"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return Net().eval(), (torch.randn(2, 5, D),)


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_parallel_and_sequential_on_modules_ending_in_dropout(net, frontend):
    module, inputs = net
    model = adaptgraph.compile(adaptgraph.loads(SPEC), module, example_inputs=inputs, frontend=frontend)
    assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules())
    model.train()  # the backbone's dropout is off in training too: two calls agree
    assert torch.equal(model(*inputs), model(*inputs))


def test_both_frontends_compute_the_same_adapted_network(net):
    module, inputs = net
    fx_model, export_model = (adaptgraph.compile(adaptgraph.loads(SPEC), module, example_inputs=inputs, frontend=f)
                              for f in ("fx", "export"))
    # both frontends run the same float32 ops (export may decompose them) on outputs of scale ~1:
    # a few ulps apart at most (~1e-7); a misplaced adapter moves them by 1e-2 or more
    assert torch.allclose(fx_model(*inputs), export_model(*inputs), atol=1e-6)  # same seed, same adapters
    zero = adaptgraph.compile(adaptgraph.loads("parallel blocks.1.mlp"), module, example_inputs=inputs, frontend="fx")
    assert torch.equal(zero(*inputs), module(*inputs))  # zero-initialised: the backbone unchanged


def test_timm_vit_mlp_ending_in_dropout():
    timm = pytest.importorskip("timm")
    module = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32).eval()
    inputs = (torch.randn(1, 3, 32, 32),)
    model = adaptgraph.compile(adaptgraph.loads("parallel blocks.1.mlp"), module, example_inputs=inputs, frontend="fx")
    assert torch.equal(model(*inputs), module(*inputs))
