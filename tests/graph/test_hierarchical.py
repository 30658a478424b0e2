"""Hierarchical backbones: every stage gives stream points, numbered stage input first, then its merges."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.errors import PlanError
from adaptgraph.graph import node_values, stream_points, trace

# zoo:convnext-tiny: stages of 2, 2, 3, 2 blocks with widths 16, 24, 32, 48 on grids 16, 16, 8, 4
STAGE_INPUTS = {0: 0, 1: 3, 2: 6, 3: 10}  # stage -> the @K of its input


@pytest.fixture(scope="module")
def convnext():
    bb = load_backbone("zoo:convnext-tiny")
    return bb, {f: trace(bb.module, bb.example_inputs, frontend=f) for f in ("fx", "export")}


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_every_stage_has_points_its_input_first(convnext, eager_io, frontend):
    bb, by_frontend = convnext
    traced = by_frontend[frontend]
    points = stream_points(traced)
    assert [p.name for p in points] == [f"@{k}" for k in range(13)]
    assert [p.shape[1:] for p in points] == [(16, 16, 16)] * 3 + [(24, 16, 16)] * 3 + [(32, 8, 8)] * 4 + [(48, 4, 4)] * 3
    blocks = [f"stages.{s}.blocks.{b}" for s, n in enumerate((2, 2, 3, 2)) for b in range(n)]
    eager = eager_io(bb.module, bb.example_inputs, blocks)
    values = node_values(traced.gm, bb.example_inputs, [p.node for p in points])
    # traced and eager run the same float32 ops in the same order (values of scale ~1): a few ulps at most
    for stage, k in STAGE_INPUTS.items():
        assert torch.allclose(values[points[k].node], eager[f"stages.{stage}.blocks.0.in"], atol=1e-6)
    outputs = [k for k in range(13) if k not in STAGE_INPUTS.values()]  # one merge per block: its output
    for k, block in zip(outputs, blocks, strict=True):
        assert torch.allclose(values[points[k].node], eager[f"{block}.out"], atol=1e-6), block


def test_a_stream_pattern_over_the_stages_gives_the_same_points(convnext):
    traced = convnext[1]["fx"]
    assert stream_points(traced, "stages.*.blocks.*") == stream_points(traced)
    assert [p.shape[1] for p in stream_points(traced, "stages.1.blocks.*")] == [24] * 3


def test_an_edge_across_a_width_change_gets_a_down_and_up_of_each_width(convnext):
    bb = convnext[0]
    model = adaptgraph.compile(adaptgraph.loads("edge @2 -> @4 { rank = 4, init = normal }"), bb)
    (edge,) = model.adaptgraph.plan.edges
    assert (edge.kind, edge.in_features, edge.out_features) == ("longrange", 16, 24)
    assert model.adaptgraph.trainable == (16 * 4 + 4) + (4 * 24 + 24)  # down and up, with biases
    with torch.no_grad():
        assert not torch.allclose(model(*bb.example_inputs), bb.module(*bb.example_inputs))


def test_an_edge_across_a_grid_change_says_both_shapes(convnext):
    with pytest.raises(PlanError) as err:
        adaptgraph.compile(adaptgraph.loads("edge @2 -> @7"), convnext[0])
    assert err.value.problems[0].message == ("@2 has shape [2, 16, 16, 16] and @7 has shape [2, 32, 8, 8]: "
                                             "all dimensions but the features must match")


class Block(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc(x)


class TwoStacks(nn.Module):
    """An encoder and a decoder of one block class; the decoder reads its own input, not the encoder's."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleList(Block() for _ in range(2))
        self.decoder = nn.ModuleList(Block() for _ in range(3))
        self.heads = nn.ModuleList(nn.Linear(8, 8) for _ in range(2))  # parallel, never a stream

    def forward(self, x, y):
        for block in self.encoder:
            x = block(x)
        for block in self.decoder:
            y = block(y)
        return y + sum(head(x) for head in self.heads)


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_both_stacks_of_an_encoder_decoder_give_points(eager_io, frontend):
    model, inputs = TwoStacks().eval(), (torch.randn(2, 4, 8), torch.randn(2, 4, 8))
    traced = trace(model, inputs, frontend=frontend)
    points = stream_points(traced)
    values = node_values(traced.gm, inputs, [p.node for p in points])
    blocks = ["encoder.0", "encoder.1", "decoder.0", "decoder.1", "decoder.2"]
    eager = eager_io(model, inputs, blocks)
    expected = [eager["encoder.0.in"], eager["encoder.0.out"], eager["encoder.1.out"],
                eager["decoder.0.in"], *(eager[f"decoder.{k}.out"] for k in range(3))]
    assert len(points) == len(expected)
    assert all(torch.equal(values[p.node], e) for p, e in zip(points, expected))


def _timm(name: str, **kwargs):
    timm = pytest.importorskip("timm")
    return timm.create_model(name, pretrained=False, num_classes=0, **kwargs).eval()


@pytest.mark.parametrize("name, merges", [("convnext_atto", 1), ("swin_tiny_patch4_window7_224", 2)])
def test_timm_hierarchical_models_get_points_in_every_stage(name, merges):
    model = _timm(name)
    inputs = (torch.randn(1, 3, 224, 224),)
    traced = trace(model, inputs, frontend="fx")
    depths = [len(stage.blocks) for stage in (model.stages if hasattr(model, "stages") else model.layers)]
    points = stream_points(traced)
    assert len(points) == len(depths) + merges * sum(depths)  # each stage's input, then its merges
    assert len({p.shape for p in points}) == len(depths)  # one shape per stage


class LowRankBlock(nn.Module):
    """A block whose projection is a Sequential of two Linears: chains of two inside every block."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(d, 2), nn.Linear(2, d))

    def forward(self, x):
        return x + self.proj(x)


def test_short_chains_inside_the_blocks_do_not_become_the_stream():
    model, inputs = nn.Sequential(*(LowRankBlock() for _ in range(3))).eval(), (torch.randn(2, 4, 8),)
    traced = trace(model, inputs, frontend="fx")
    assert len(stream_points(traced)) == 4  # the three blocks, not the six Linears
