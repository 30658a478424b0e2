"""The zoo backbones trace with both frontends and give the stream points language.md promises."""
from __future__ import annotations

import pytest
import torch

from adaptgraph.graph import module_ports, node_values, stream_points, trace

backbones = pytest.importorskip("adaptgraph.backbones")

# ref -> (block paths, merges per block)
ZOO = {
    "zoo:vit-tiny": ([f"blocks.{k}" for k in range(4)], 2),
    "zoo:gpt-tiny": ([f"h.{k}" for k in range(4)], 2),
    "zoo:bert-tiny": ([f"encoder.layer.{k}" for k in range(4)], 2),
    "zoo:resnet-tiny": ([f"layer{s}.{b}" for s in (1, 2, 3) for b in (0, 1)], 1),
}


@pytest.fixture(scope="module", params=sorted(ZOO))
def zoo(request):
    """(ref, backbone, {frontend: traced}): each zoo model traced once per frontend."""
    bb = backbones.load_backbone(request.param)
    traced = {f: trace(bb.module, bb.example_inputs, frontend=f, leaf_modules=bb.leaf_modules) for f in ("fx", "export")}
    return request.param, bb, traced


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_zoo_stream_points_follow_the_eager_blocks(zoo, eager_io, frontend):
    ref, bb, by_frontend = zoo
    blocks, merges = ZOO[ref]
    traced = by_frontend[frontend]
    points = stream_points(traced)
    assert len(points) == merges * len(blocks) + 1
    values = node_values(traced.gm, bb.example_inputs, [p.node for p in points])
    eager = eager_io(bb.module, bb.example_inputs, blocks)
    assert torch.allclose(values[points[0].node], eager[f"{blocks[0]}.in"], atol=1e-5)
    for k, block in enumerate(blocks):
        last = points[merges * (k + 1)]
        assert torch.allclose(values[last.node], eager[f"{block}.out"], atol=1e-5), (ref, block)


def test_zoo_ports_agree_between_frontends(zoo):
    ref, bb, by_frontend = zoo
    by_fx, by_export = by_frontend["fx"], by_frontend["export"]
    fx_ports, export_ports = module_ports(by_fx), module_ports(by_export)
    # nn.Identity leaves a call_module node under fx but no node at all under export
    assert set(export_ports) <= set(fx_ports)
    assert {p.rsplit(".", 1)[0] for p in set(fx_ports) - set(export_ports)} <= {
        p for p, t in by_fx.module_types.items() if t.endswith(".Identity")}
    fx_values = node_values(by_fx.gm, bb.example_inputs, [p.node for p in fx_ports.values()])
    export_values = node_values(by_export.gm, bb.example_inputs, [p.node for p in export_ports.values()])
    for name, point in export_ports.items():
        assert torch.allclose(fx_values[fx_ports[name].node], export_values[point.node], atol=1e-5), (ref, name)
