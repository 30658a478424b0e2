"""Module ports: every PATH.in / PATH.out holds the value the eager module call sees."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from adaptgraph.graph import PointInfo, module_ports, node_values, trace

MODELS = ["prenorm", "tokens", "resnet"]


@pytest.mark.parametrize("frontend", ["fx", "export"])
@pytest.mark.parametrize("name", MODELS)
def test_ports_equal_eager_module_inputs_and_outputs(traced_of, eager_io, name, frontend):
    model, inputs, traced = traced_of(name, frontend)
    ports = module_ports(traced)
    eager = eager_io(model, inputs, traced.module_paths)
    assert set(ports) == set(eager)  # every module call of these models has both ports
    values = node_values(traced.gm, inputs, [p.node for p in ports.values()])
    for name_, point in ports.items():
        assert torch.allclose(values[point.node], eager[name_], atol=1e-6), name_


@pytest.mark.parametrize("name", MODELS)
def test_ports_agree_between_frontends(traced_of, name):
    _, inputs, by_fx = traced_of(name, "fx")
    by_export = traced_of(name, "export")[2]
    fx_ports, export_ports = module_ports(by_fx), module_ports(by_export)
    assert set(fx_ports) == set(export_ports)
    fx_values = node_values(by_fx.gm, inputs, [p.node for p in fx_ports.values()])
    export_values = node_values(by_export.gm, inputs, [p.node for p in export_ports.values()])
    for key in fx_ports:
        a, b = fx_ports[key], export_ports[key]
        assert (a.shape, a.feature_dim) == (b.shape, b.feature_dim), key
        assert torch.allclose(fx_values[a.node], export_values[b.node], atol=1e-6), key


def test_port_info_for_the_prenorm_model(traced_of):
    ports = module_ports(traced_of("prenorm", "fx")[2])
    assert ports["blocks.0.attn.in"] == PointInfo("blocks.0.attn.in", "blocks_0_ln1", (2, 5, 8), -1, 2)  # x, proj, ln1
    assert ports["blocks.0.in"].node == "proj" and ports["blocks.0.out"].node == "add_1"
    assert ports["blocks.1.in"].node == ports["blocks.0.out"].node
    assert ports["blocks.0.mlp.1.out"].shape == (2, 5, 16)
    assert "blocks.in" not in ports  # a ModuleList is never called


def test_image_ports_have_channel_features(traced_of):
    ports = module_ports(traced_of("resnet", "export")[2])
    assert ports["layer2.0.out"].shape == (2, 8, 4, 4) and ports["layer2.0.out"].feature_dim == 1
    orders = [ports[f"layer{s}.{b}.out"].order for s in (1, 2) for b in (0, 1)]
    assert orders == sorted(orders)


class PairOut(nn.Module):
    """Returns (main, aux) like a Hugging Face attention layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y * 2, y.sum()


class UsesPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.pair = PairOut()
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        main, aux = self.pair(x)
        return self.head(main) + aux


def test_a_tuple_returning_leaf_module_outputs_its_first_tensor():
    model = UsesPair().eval()
    inputs = (torch.randn(2, 4),)
    traced = trace(model, inputs, frontend="fx", leaf_modules=("PairOut",))
    ports = module_ports(traced)
    out = traced.node(ports["pair.out"].node)
    assert out.target.__name__ == "getitem" and out.args[1] == 0
    value = node_values(traced.gm, inputs, [out.name])[out.name]
    assert torch.allclose(value, model.pair(*inputs)[0])


def test_ports_follow_edits_of_the_graph(prenorm):
    model, inputs = prenorm
    traced = trace(model, inputs, frontend="fx")
    assert module_ports(traced)["blocks.0.attn.in"].node == "blocks_0_ln1"
    assert module_ports(traced) is not module_ports(traced)  # callers get their own dict
    ln1 = traced.node("blocks_0_ln1")
    with traced.gm.graph.inserting_after(ln1):  # a pass inserts a node between ln1 and attn
        doubled = traced.gm.graph.call_function(torch.mul, (ln1, 2.0))
    doubled.meta = {**ln1.meta, "nn_module_stack": {}}
    traced.node("blocks_0_attn").replace_input_with(ln1, doubled)
    assert module_ports(traced)["blocks.0.attn.in"].node == doubled.name
