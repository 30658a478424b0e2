"""Tracing frontends: outputs equal the eager model, fallbacks work, failures are reported."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import fx, nn

import adaptgraph.graph.tracing as trace_module
from adaptgraph.errors import TraceError
from adaptgraph.graph import trace


def _eager(model, inputs):
    with torch.no_grad():
        out = model(*inputs)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("frontend", ["fx", "export", "auto"])
def test_frontends_match_eager_on_a_new_batch(prenorm, frontend):
    model, inputs = prenorm
    traced = trace(model, inputs, frontend=frontend)
    assert traced.frontend == ("fx" if frontend == "auto" else frontend)
    other = (torch.randn(3, 5, 4),)  # another batch size than the example's
    assert torch.allclose(traced.gm(*other), _eager(model, other), atol=1e-6)
    assert "blocks.2.mlp.0" in traced.module_paths and "" not in traced.module_paths


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_tuple_output_becomes_the_first_tensor(traced_of, frontend):
    model, inputs, traced = traced_of("tokens", frontend)
    out = traced.gm(*inputs)
    assert isinstance(out, torch.Tensor)
    assert torch.equal(out, _eager(model, inputs))
    assert not any(n.op == "call_method" and n.target == "mean" for n in traced.gm.graph.nodes)  # pooled part removed


def test_export_has_dynamic_batch_and_sequence(traced_of):
    model, _, traced = traced_of("tokens", "export")
    assert traced.notes == ()
    ids = torch.randint(0, 50, (5, 9))
    mask = torch.ones(5, 9, dtype=torch.long)
    assert torch.allclose(traced.gm(ids, mask), _eager(model, (ids, mask)), atol=1e-6)


def test_export_graph_module_can_switch_train_and_eval(traced_of):
    gm = traced_of("prenorm", "export")[2].gm
    gm.train()
    gm.eval()
    assert type(gm).__mro__[1] is fx.GraphModule


class Gate(nn.Module):
    """Data-dependent control flow: fx cannot trace it, so it must become a leaf."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            return self.scale(x)
        return -x


class GatedBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.gate = Gate()

    def forward(self, x):
        return x + self.gate(self.fc(x))


class GatedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(GatedBlock(), GatedBlock())

    def forward(self, x):
        return self.blocks(x)


def test_fx_makes_the_smallest_untraceable_submodules_leaves():
    torch.manual_seed(0)
    model = GatedNet().eval()
    traced = trace(model, (torch.randn(2, 8),), frontend="fx")
    calls = [n.target for n in traced.gm.graph.nodes if n.op == "call_module"]
    assert calls == ["blocks.0.fc", "blocks.0.gate", "blocks.1.fc", "blocks.1.gate"]
    assert traced.notes == ("fx made these submodules leaves (their code is not traceable): blocks.0.gate, blocks.1.gate",)
    for x in (torch.full((3, 8), 1.0), torch.full((3, 8), -1.0)):  # both branches of the gate
        assert torch.allclose(traced.gm(x), model(x))


def test_leaf_modules_by_class_name():
    model = GatedNet().eval()
    traced = trace(model, (torch.randn(2, 8),), frontend="fx", leaf_modules=("GatedBlock",))
    assert [n.target for n in traced.gm.graph.nodes if n.op == "call_module"] == ["blocks.0", "blocks.1"]
    assert traced.notes == ()


class RootBranch(nn.Module):
    """fx fails in the root's own code (a branch on a traced value); export sees real shapes."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.dim() == 3:
            x = x.mean(1)
        return self.fc(x)


def test_auto_falls_back_to_export_when_fx_fails_in_the_root():
    model = RootBranch().eval()
    traced = trace(model, (torch.randn(2, 3, 4),), frontend="auto")
    assert traced.frontend == "export"
    with pytest.raises(TraceError) as err:
        trace(model, (torch.randn(2, 3, 4),), frontend="fx")
    assert err.value.problems[0].message.startswith("could not trace the model with fx: TraceError: symbolically traced variables")


def _broken_fx(module, n_inputs, leaf_modules=()):
    gm = fx.symbolic_trace(module)
    output = next(n for n in gm.graph.nodes if n.op == "output")
    with gm.graph.inserting_before(output):
        shifted = gm.graph.call_function(torch.add, (output.args[0], 1.0))
    output.args = (shifted,)
    gm.recompile()
    return gm, ()


def test_a_frontend_with_wrong_outputs_is_rejected(prenorm, monkeypatch):
    model, inputs = prenorm
    monkeypatch.setattr(trace_module, "fx_graph", _broken_fx)
    with pytest.raises(TraceError) as err:
        trace(model, inputs, frontend="fx")
    assert err.value.problems[0].message == (
        "could not trace the model with fx: the traced graph does not match the eager model: "
        "max abs difference 1 > atol 1e-05 on inputs of shape (1, 5, 4)")
    assert trace(model, inputs, frontend="auto").frontend == "export"  # auto moves on to export


def test_all_frontends_failing_lists_each_reason(prenorm, monkeypatch):
    model, inputs = prenorm

    def fail_export(module, inputs):
        raise RuntimeError("export exploded\nwith a second line")

    monkeypatch.setattr(trace_module, "fx_graph", _broken_fx)
    monkeypatch.setattr(trace_module, "export_graph", fail_export)
    with pytest.raises(TraceError) as err:
        trace(model, inputs)
    assert err.value.problems[0].message == (
        "could not trace the model with any frontend:\n"
        "  fx: the traced graph does not match the eager model: max abs difference 1 > atol 1e-05 "
        "on inputs of shape (1, 5, 4)\n"
        "  export: RuntimeError: export exploded")


def test_unknown_frontend_and_bad_inputs(prenorm):
    model, inputs = prenorm
    with pytest.raises(TraceError) as err:
        trace(model, inputs, frontend="exprot")
    assert err.value.problems[0].message == "unknown tracing frontend 'exprot'; choose one of fx, export, auto"
    assert err.value.problems[0].hint == "did you mean 'export'?"
    with pytest.raises(TraceError) as err:
        trace(model, (torch.randn(2, 5, 3),))
    assert err.value.problems[0].message.startswith("the eager model fails on the example inputs: RuntimeError: mat1 and mat2")


def test_the_callers_module_is_never_changed_and_its_weights_are_shared(resnet):
    model, inputs = resnet
    model.train()
    model.layer1[0].conv1.weight.requires_grad_(False)
    hook = model.layer2.register_forward_hook(lambda *a: None)
    before = copy.deepcopy(model.state_dict())
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    own = {t.data_ptr() for t in model.state_dict().values()}
    for frontend in ("fx", "export"):
        traced = trace(model, inputs, frontend=frontend)
        # no copy of the weights: the graph's tensors are views of the caller's, held by its own objects
        assert {p.data_ptr() for p in traced.gm.parameters()} <= own
        assert not {id(p) for p in traced.gm.parameters()} & {id(p) for p in model.parameters()}
        traced.gm.eval().requires_grad_(False).double()  # mode, flags and dtype of the graph are its own
    assert model.training and all(m.training for m in model.modules())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(torch.equal(before[k], v) and v.dtype == before[k].dtype for k, v in model.state_dict().items())
    assert model.layer1[0].relu.inplace is True
    assert list(model.layer2._forward_hooks) == [hook.id]  # hooks stay (copies keep them too: weight norm needs them)
    assert all(not m._forward_hooks for m in model.modules() if m is not model.layer2)


@pytest.mark.parametrize("frontend", ["fx", "export"])
def test_inplace_ops_become_out_of_place(resnet, frontend):
    model, inputs = resnet
    traced = trace(model, inputs, frontend=frontend)
    names = [str(n.target) for n in traced.gm.graph.nodes if n.op == "call_function"]
    assert not any(name.endswith("_.Tensor") or name.endswith("_.default") for name in names)
    relus = [m for m in traced.gm.modules() if isinstance(m, nn.ReLU)]
    assert all(not m.inplace for m in relus)
    assert any("in-place ops made out-of-place" in note for note in traced.notes)
    assert torch.allclose(traced.gm(*inputs), model(*inputs), atol=1e-6)


def test_inplace_op_whose_input_is_read_later_is_kept():
    class Aliasing(nn.Module):
        def forward(self, x):
            y = x * 2
            z = y.add_(1)  # y is read again below: making this out-of-place would change the result
            return z + y

    traced = trace(Aliasing(), (torch.randn(2, 3),), frontend="fx")
    assert [n.target for n in traced.gm.graph.nodes if n.op == "call_method"] == ["add_"]
    assert traced.notes == ()


class ShapeSwitch(nn.Module):
    """fx cannot branch on x.dim(); export sees real shapes, so it traces inside."""

    def forward(self, x):
        return x.mean(1) if x.dim() == 3 else x


class SwitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = ShapeSwitch()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.pool(x))


def test_auto_keeps_fx_with_automatic_leaves_and_does_not_try_export(monkeypatch):
    model, inputs = SwitchNet().eval(), (torch.randn(2, 3, 4),)
    monkeypatch.setitem(trace_module.FRONTENDS._entries, "export", _never)  # one trace: export is not attempted
    traced = trace(model, inputs)
    assert traced.frontend == "fx" and traced.auto_leaves == ("pool",)
    assert traced.notes[-1] == "'export' may see inside the automatic leaves: pass frontend= to try"
    monkeypatch.undo()
    assert trace(model, inputs, frontend="export").auto_leaves == ()  # asked for: export sees inside


def _never(*args):
    raise AssertionError("this frontend must not run")


def test_auto_keeps_fx_with_leaves_where_export_would_fail():
    torch.manual_seed(0)
    traced = trace(GatedNet().eval(), (torch.randn(2, 8),))  # data-dependent branch: export fails
    assert traced.frontend == "fx" and traced.auto_leaves == ("blocks.0.gate", "blocks.1.gate")


def test_inplace_op_on_a_tensor_with_an_earlier_view_is_kept():
    class ViewThenMutate(nn.Module):
        def forward(self, x):
            y = x * 2
            first = y[0]  # a view: it sees the mutation below
            y.add_(1)
            return first + 0.0

    model, inputs = ViewThenMutate(), (torch.randn(2, 3),)
    traced = trace(model, inputs, frontend="fx")
    assert "add_" in [n.target for n in traced.gm.graph.nodes if n.op == "call_method"]
    assert torch.equal(traced.gm(*inputs), model(*inputs))


def test_export_graphs_follow_the_input_device(traced_of):
    """Export writes the tracing device into the graph; it must come from the inputs instead."""
    model, inputs, traced = traced_of("tokens", "export")
    nodes = list(traced.gm.graph.nodes)
    leaves = torch.utils._pytree.tree_leaves([(n.args, n.kwargs) for n in nodes])
    assert not any(isinstance(x, torch.device) for x in leaves)

    class Arange(nn.Module):
        def forward(self, x):
            return x + torch.arange(x.shape[1], device=x.device)

    gm = trace(Arange(), (torch.randn(2, 3),), frontend="export").gm
    device_reads = [n for n in gm.graph.nodes if n.target is getattr and n.args[1] == "device"]
    assert len(device_reads) == 1 and device_reads[0].args[0].op == "placeholder"
    x = torch.randn(4, 3)
    assert torch.equal(gm(x), Arange()(x))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_model_whose_own_output_is_not_finite_is_named_as_such(prenorm, bad):
    model, inputs = copy.deepcopy(prenorm[0]), prenorm[1]
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() == 2)[0, 0] = bad
    for frontend in ("auto", "fx"):
        with pytest.raises(TraceError) as e:
            trace(model, inputs, frontend=frontend)
        assert "the model's own output on its example inputs is not finite" in str(e.value)
        assert "max abs difference" not in str(e.value)
