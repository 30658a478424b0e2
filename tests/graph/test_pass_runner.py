"""The pass runner: only the graph module flows between passes; a failure names the pass and those before it."""
from __future__ import annotations

import pytest
import torch
from torch import fx, nn

import adaptgraph.graph.tracing as trace_module
from adaptgraph.errors import PassError, TraceError
from adaptgraph.graph import PassResult, run_passes, trace


def _unchanged(gm):
    return PassResult(gm, False)


def _retrace(gm):
    return PassResult(fx.symbolic_trace(gm), True)


def test_each_pass_reads_the_graph_module_the_one_before_returned():
    gm = fx.symbolic_trace(nn.Linear(3, 3))
    seen = []

    def record(g):
        seen.append(g)
        return PassResult(g, False, count=len(seen))

    out, results = run_passes(gm, [("retrace", _retrace), ("record", record)])
    assert seen == [out] and out is not gm and out is results["retrace"].graph_module
    assert list(results) == ["retrace", "record"] and results["record"].count == 1


def test_a_failing_pass_is_named_with_those_before_it():
    def broken(gm):
        raise KeyError("x")

    with pytest.raises(PassError) as err:
        run_passes(fx.symbolic_trace(nn.Linear(3, 3)), [("first", _unchanged), ("second", _unchanged),
                                                         ("broken", broken)])
    assert err.value.problems[0].message == ("graph pass `broken` failed (KeyError: 'x'); passes run before it: "
                                             "first, second")


def test_a_pass_must_return_a_pass_result():
    with pytest.raises(PassError) as err:
        run_passes(fx.symbolic_trace(nn.Linear(3, 3)), [("counts", lambda gm: 3)])
    assert err.value.problems[0].message == ("graph pass `counts` failed (TypeError: the pass returned int, "
                                             "not a PassResult); passes run before it: none")


def test_a_graph_that_no_longer_lints_fails_its_pass():
    def orphan(gm):
        out = next(n for n in gm.graph.nodes if n.op == "output")
        out.args = (fx.Proxy(fx.Graph().placeholder("stray")).node,)  # a node of another graph
        return PassResult(gm, True)

    with pytest.raises(PassError, match=r"^error: graph pass `orphan` failed \("):
        run_passes(fx.symbolic_trace(nn.Linear(3, 3)), [("orphan", orphan)])


class _InPlace(nn.Module):
    def forward(self, x):
        return (x * 2).add_(1)


def test_trace_tidies_under_the_runner_and_reports_a_failing_tidy_pass(monkeypatch):
    inputs = (torch.randn(2, 3),)
    traced = trace(_InPlace(), inputs, frontend="fx")
    assert traced.notes == ("in-place ops made out-of-place: add_",)

    def broken(gm):
        raise ValueError("boom")

    monkeypatch.setattr(trace_module, "remove_inplace_ops", broken)
    with pytest.raises(TraceError) as err:
        trace(_InPlace(), inputs, frontend="fx")
    assert err.value.problems[0].message == (
        "could not trace the model with fx: graph pass `remove_inplace_ops` failed (ValueError: boom); "
        "passes run before it: select_output, propagate_shapes")
