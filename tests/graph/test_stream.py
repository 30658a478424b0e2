"""Stream points: 2L+1 for transformer blocks, values equal to the eager residual stream."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from adaptgraph.errors import PlanError
from adaptgraph.graph import FRONTENDS, node_values, stream_points, trace


def _stream_values(traced, inputs, pattern=None):
    points = stream_points(traced, pattern)
    values = node_values(traced.gm, inputs, [p.node for p in points])
    return points, [values[p.node] for p in points]


def _close(a, b):
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_prenorm_blocks_give_two_points_each(traced_of, eager_io, frontend):
    model, inputs, traced = traced_of("prenorm", frontend)
    points, values = _stream_values(traced, inputs)
    assert [p.name for p in points] == [f"@{k}" for k in range(7)]
    assert [p.order for p in points] == sorted(p.order for p in points)
    eager = eager_io(model, inputs, [f"blocks.{k}{s}" for k in range(3) for s in ("", ".ln2")])
    assert _close(values[0], eager["blocks.0.in"])
    for k in range(3):
        assert _close(values[2 * k + 1], eager[f"blocks.{k}.ln2.in"])  # after the attention merge
        assert _close(values[2 * k + 2], eager[f"blocks.{k}.out"])  # the block's output


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_postnorm_points_are_after_the_layernorm(traced_of, eager_io, frontend):
    model, inputs, traced = traced_of("tokens", frontend)
    points, values = _stream_values(traced, inputs)
    assert len(points) == 5 and points[0].shape == (2, 6, 8) and points[0].feature_dim == -1
    eager = eager_io(model, inputs, [f"layer.{k}{s}" for k in range(2) for s in ("", ".attention_output")])
    assert _close(values[0], eager["layer.0.in"])
    for k in range(2):
        assert _close(values[2 * k + 1], eager[f"layer.{k}.attention_output.out"])
        assert _close(values[2 * k + 2], eager[f"layer.{k}.out"])


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_resnet_blocks_give_one_point_each_across_stages(traced_of, eager_io, frontend):
    model, inputs, traced = traced_of("resnet", frontend)
    points, values = _stream_values(traced, inputs)
    blocks = ["layer1.0", "layer1.1", "layer2.0", "layer2.1"]  # layer2.0 has a projection shortcut
    eager = eager_io(model, inputs, blocks)
    assert _close(values[0], eager["layer1.0.in"])
    assert all(_close(v, eager[f"{b}.out"]) for v, b in zip(values[1:], blocks, strict=True))
    assert [p.feature_dim for p in points] == [1] * 5 and points[-1].shape == (2, 8, 4, 4)


def test_stream_pattern_picks_the_blocks(traced_of):
    traced = traced_of("resnet", "fx")[2]
    assert len(stream_points(traced, "layer2.*")) == 3  # input of layer2.0, then its two blocks
    assert stream_points(traced, "layer2") == stream_points(traced, "layer2.*")  # a container: its children
    assert [p.node for p in stream_points(traced, "*.*")] == [p.node for p in stream_points(traced)]


def test_stream_pattern_errors(traced_of):
    traced = traced_of("resnet", "fx")[2]
    with pytest.raises(PlanError) as err:
        stream_points(traced, "layer3.*")
    assert err.value.problems[0].message == "stream pattern 'layer3.*' matches no module called in the forward pass"
    assert err.value.problems[0].hint == "did you mean 'layer2.*' or 'layer1.*'?"
    with pytest.raises(PlanError) as err:
        stream_points(traced, "layer1.0")
    assert err.value.problems[0].message == "stream pattern 'layer1.0' names one module, not a set of blocks"
    assert err.value.problems[0].hint.startswith("use 'layer1.0.*' for its children, or a pattern such as 'layer1.*'")


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))


class PlainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Plain(), Plain(), Plain())

    def forward(self, x):
        return self.blocks(x)


def test_blocks_without_residual_merges_are_an_error():
    traced = trace(PlainNet().eval(), (torch.randn(2, 4),), frontend="fx")
    with pytest.raises(PlanError) as err:
        stream_points(traced)
    assert err.value.problems[0].message == (
        "no residual merges found in blocks blocks.0, blocks.1, blocks.2 (Plain), so there are no stream points")
    assert err.value.problems[0].hint == (
        "stream points need blocks that add a computed value to their input; use module ports instead "
        "(e.g. 'blocks.0.in', 'blocks.0.out'), or name other blocks with 'stream PATTERN'")


def test_blocks_hidden_behind_fx_leaves_have_no_merges(prenorm):
    model, inputs = prenorm
    traced = trace(model, inputs, frontend="fx", leaf_modules=("PreNormBlock",))
    with pytest.raises(PlanError, match=r"no residual merges found in blocks blocks\.0, blocks\.1, blocks\.2 \(PreNormBlock\)"):
        stream_points(traced)


def test_no_repeated_blocks_is_an_error():
    traced = trace(Plain().eval(), (torch.randn(2, 4),), frontend="fx")
    with pytest.raises(PlanError) as err:
        stream_points(traced)
    assert err.value.problems[0].message == (
        "found no repeated blocks (a ModuleList or Sequential of modules of one class whose outputs chain), "
        "so there are no stream points")
    assert err.value.problems[0].hint == (
        "name the blocks with a 'stream PATTERN' statement (e.g. 'stream blocks.*'), "
        "or use module ports (PATH.in / PATH.out)")


class ParallelBlock(nn.Module):
    """GPT-J style: x + attn(ln(x)) + mlp(ln(x)), then a scale after the last merge."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4)
        self.attn, self.mlp = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = self.ln(x)
        return (x + self.attn(h) + self.mlp(h)) * 0.5


class ParallelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.ModuleList([ParallelBlock(), ParallelBlock()])

    def forward(self, x):
        for block in self.h:
            x = block(x)
        return x


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_parallel_merges_and_a_tail_after_the_last_merge(eager_io, frontend):
    torch.manual_seed(0)
    model, inputs = ParallelNet().eval(), (torch.randn(2, 3, 4),)
    points, values = _stream_values(trace(model, inputs, frontend=frontend), inputs)
    assert len(points) == 7  # per block: two merges, then the scaled output as the block's last point
    eager = eager_io(model, inputs, ["h.0", "h.1"])
    assert _close(values[3], eager["h.0.out"]) and _close(values[6], eager["h.1.out"])
    h = model.h[0]
    x = inputs[0]
    assert _close(values[1], x + h.attn(h.ln(x)))
