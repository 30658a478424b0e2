"""Every error a user can cause while compiling: exact text, file:line:col, and a fix."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.errors import BackboneError, PlanError, TraceError


def compile_error(text, backbone="zoo:vit-tiny", **kw):
    with pytest.raises((PlanError, BackboneError, TraceError)) as e:
        adaptgraph.compile(adaptgraph.loads(text, "s.adapt"), backbone, **kw)
    return str(e.value)


def test_unknown_module_path_offers_closest():
    assert compile_error("edge blocks.0.atn.out -> @3\n") == """\
s.adapt:1:6: error: unknown module path 'blocks.0.atn' in point 'blocks.0.atn.out' (edges[0].src)
    edge blocks.0.atn.out -> @3
         ^^^^^^^^^^^^^^^^
    hint: did you mean 'blocks.0.attn' or 'blocks.3.attn' or 'blocks.2.attn'?"""


def test_glob_matching_nothing():
    assert compile_error("parallel blockz.*.attn\n") == """\
s.adapt:1:10: error: 'blockz.*.attn.in' matches no point of this backbone (edges[0].src)
    parallel blockz.*.attn
             ^^^^^^^^^^^^^
    hint: did you mean 'blocks.*.attn.in' or 'blocks.*.attn.out' or 'blocks.*.norm2.in'?"""


def test_stream_index_out_of_range_shows_valid_range():
    assert compile_error("edge @1 -> @12\n") == """\
s.adapt:1:12: error: stream point @12 is out of range: this backbone has 9 stream points, @0..@8 \
(or @-9..@-1 counting from the end) (edges[0].dst)
    edge @1 -> @12
               ^^^"""


def test_shape_mismatch_names_both_shapes():
    assert compile_error("edge patch_embed.proj.out -> @2\n") == """\
s.adapt:1:6: error: patch_embed.proj.out has shape [2, 64, 4, 4] and @2 has shape [2, 17, 64]: \
all dimensions but the features must match (edges[0])
    edge patch_embed.proj.out -> @2
         ^^^^^^^^^^^^^^^^^^^^
    hint: pick points on the same token grid or feature map (features may differ in width)"""


def test_kind_the_graph_contradicts():
    assert compile_error("longrange blocks.2.mlp.out -> blocks.0.mlp.in\n") == """\
s.adapt:1:1: error: `longrange blocks.2.mlp.out -> blocks.0.mlp.in` does not fit the graph: it is a recurrent \
edge (edges[0].kind)
    longrange blocks.2.mlp.out -> blocks.0.mlp.in
    ^^^^^^^^^
    hint: write `recurrent`, or `edge` to let adaptgraph infer the kind"""


def test_all_problems_at_once():
    text = compile_error("edge @1 -> @40\nedge blocks.9.attn.out -> @2\ntrain foo\n")
    assert [line.split(": error")[0] for line in text.splitlines() if ": error" in line] == \
        ["s.adapt:1:12", "s.adapt:2:6", "s.adapt:3:7"]


def test_unknown_train_path():
    assert compile_error("train blocks.0.nrm1\n") == """\
s.adapt:1:7: error: `train blocks.0.nrm1`: no module has this path (train[0])
    train blocks.0.nrm1
          ^^^^^^^^^^^^^
    hint: did you mean 'blocks.0.norm1' or 'blocks.3.norm1' or 'blocks.2.norm1'?"""


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(8, 8) for _ in range(3)])

    def forward(self, x):
        return self.layers(x)


def test_blocks_without_merges_suggest_ports():
    assert compile_error("edge @1 -> @2\n", Plain(), example_inputs=(torch.randn(2, 8),)) == """\
s.adapt:1:6: error: no residual merges found in blocks layers.0, layers.1, layers.2 (Linear), so there are no \
stream points (edges[0].src)
    edge @1 -> @2
         ^^
    hint: stream points need blocks that add a computed value to their input; use module ports instead \
(e.g. 'layers.0.in', 'layers.0.out'), or name other blocks with 'stream PATTERN'"""


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(x) if x.sum() > 0 else self.lin(x) * 2


def test_untraceable_backbone_lists_frontends():
    text = compile_error("edge lin.in -> lin.out\n", DataDependent(), example_inputs=(torch.randn(2, 8),))
    assert text.startswith("error: could not trace the model with any frontend:\n  fx: ")
    assert "\n  export: " in text and "hint:" in text


def test_py_reference_without_trust_points_at_the_spec():
    assert compile_error('backbone "py:os:getcwd"\nedge @1 -> @2\n', None) == """\
s.adapt:1:10: error: backbone py:os:getcwd runs Python code (it imports os and calls getcwd()), so it is \
refused without trust (backbone)
    backbone "py:os:getcwd"
             ^^^^^^^^^^^^^^
    hint: if you trust this code, pass --trust-code on the command line or trust_code=True in Python"""


def test_no_backbone_at_all():
    with pytest.raises(adaptgraph.AdaptGraphError, match="no backbone: the spec has no `backbone` statement"):
        adaptgraph.compile(adaptgraph.loads("edge @1 -> @2"))
