"""Resolving point texts and globbed edges against a traced graph, and their error messages."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from adaptgraph.errors import PlanError
from adaptgraph.graph import module_ports, resolve_point, stream_points, trace
from adaptgraph.graph.point_lookup import resolve_glob_pair


@pytest.fixture
def traced(traced_of):
    return traced_of("prenorm", "fx")[2]


def _problem(call):
    with pytest.raises(PlanError) as err:
        call()
    problem = err.value.problems[0]
    return problem.message, problem.hint


def test_each_point_form(traced):
    points = stream_points(traced)
    assert resolve_point(traced, "@0") == points[0]
    assert resolve_point(traced, "@-1") == points[-1] and points[-1].name == "@6"
    assert resolve_point(traced, "blocks.1.attn.out") == module_ports(traced)["blocks.1.attn.out"]
    node = resolve_point(traced, "%add_2")
    assert (node.name, node.node, node.shape, node.feature_dim) == ("%add_2", "add_2", (2, 5, 8), -1)
    assert node.order == [n.name for n in traced.gm.graph.nodes].index("add_2")


def test_stream_pattern_is_passed_through(traced_of):
    traced = traced_of("resnet", "export")[2]
    point = resolve_point(traced, "@2", stream="layer1.*")
    assert point.node == module_ports(traced)["layer1.1.out"].node and point.name == "@2"
    message, _ = _problem(lambda: resolve_point(traced, "@3", stream="layer1.*"))
    assert message == "stream point @3 is out of range: this backbone has 3 stream points, @0..@2 (or @-3..@-1 counting from the end)"


def test_point_errors(traced):
    assert _problem(lambda: resolve_point(traced, "@7")) == (
        "stream point @7 is out of range: this backbone has 7 stream points, @0..@6 (or @-7..@-1 counting from the end)", "")
    assert _problem(lambda: resolve_point(traced, "@-8"))[0].startswith("stream point @-8 is out of range")
    assert _problem(lambda: resolve_point(traced, "blocks.0.atn.in")) == (
        "unknown module path 'blocks.0.atn' in point 'blocks.0.atn.in'",
        "did you mean 'blocks.0.attn' or 'blocks.2.attn' or 'blocks.1.attn'?")
    assert _problem(lambda: resolve_point(traced, "blocks.out")) == (
        "module 'blocks' is never called in the traced forward pass (a container or an unused module), "
        "so it has no .in/.out", "use one of the modules inside it that run, e.g. 'blocks.0'")
    assert _problem(lambda: resolve_point(traced, "%add_22")) == (
        "no node named '%add_22' in the traced graph", "did you mean 'add_2' or 'add_5' or 'add_4'?")
    assert _problem(lambda: resolve_point(traced, "blocks.0")) == (
        "'blocks.0' is not a point; a point is PATH.in, PATH.out, @K (a stream index) or %NODE (a graph node name)", "")


def test_a_node_that_is_not_a_tensor():
    class Sized(nn.Module):
        def forward(self, x):
            return x.view(x.size(0), -1)

    traced = trace(Sized(), (torch.randn(2, 3, 4),), frontend="fx")
    assert _problem(lambda: resolve_point(traced, "%size")) == (
        "node '%size' does not compute a tensor, so it cannot be a point", "")


def test_glob_pairs_bind_every_star_to_the_same_block(traced):
    pairs = resolve_glob_pair(traced, "blocks.*.in", "blocks.*.out")
    ports = module_ports(traced)
    assert [(s.name, d.name, b) for s, d, b in pairs] == [
        (f"blocks.{k}.in", f"blocks.{k}.out", (str(k),)) for k in range(3)]
    assert pairs[1][0] == ports["blocks.1.in"]
    mixed = resolve_glob_pair(traced, "blocks.*.mlp.out", "@3")
    assert [(s.name, d.name) for s, d, _ in mixed] == [(f"blocks.{k}.mlp.out", "@3") for k in range(3)]
    plain = resolve_glob_pair(traced, "@1", "blocks.2.attn.in")
    assert [(s.name, d.name, b) for s, d, b in plain] == [("@1", "blocks.2.attn.in", ())]


def test_glob_errors(traced):
    assert _problem(lambda: resolve_glob_pair(traced, "blocks.*.atn.in", "@1")) == (
        "'blocks.*.atn.in' matches no point of this backbone", "did you mean 'blocks.*.attn.in' or 'blocks.*.ln2.in' or 'blocks.*.ln1.in'?")
    assert _problem(lambda: resolve_glob_pair(traced, "blocks.*.in", "proj.*.out")) == (
        "'proj.*.out' matches no point of this backbone", "did you mean 'blocks.*.out'?")
    assert _problem(lambda: resolve_glob_pair(traced, "@1", "head.*.w.out")) == (
        "'head.*.w.out' matches no point of this backbone",
        "'*' stands for exactly one path segment ('**' for one or more); module paths are what named_modules() prints")


class Branches(nn.Module):
    """Two module lists with different index ranges, to test bindings valid on one side only."""

    def __init__(self):
        super().__init__()
        self.a = nn.ModuleList(nn.Linear(2, 2) for _ in range(11))
        self.b = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))
        self.c = nn.ModuleDict({"first": nn.Linear(2, 2)})

    def forward(self, x):
        for m in self.a:
            x = m(x)
        return self.c["first"](self.b[1](x))


def test_glob_binding_is_the_intersection_in_natural_order():
    traced = trace(Branches().eval(), (torch.randn(2, 2),), frontend="fx")
    pairs = resolve_glob_pair(traced, "a.*.out", "a.*.in")
    assert [b for _, _, b in pairs] == [(str(k),) for k in range(11)]  # 10 after 9
    assert [b for _, _, b in resolve_glob_pair(traced, "a.*.out", "b.*.in")] == [("1",)]  # b.0 never runs
    assert _problem(lambda: resolve_glob_pair(traced, "b.*.out", "a.*.x.in"))[0] == "'a.*.x.in' matches no point of this backbone"
    assert _problem(lambda: resolve_glob_pair(traced, "a.*.out", "c.*.in")) == (
        "no value of '*' makes both 'a.*.out' and 'c.*.in' points of this backbone",
        "'a.*.out' and 'c.*.in' match different module paths; check both patterns")
