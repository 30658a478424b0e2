"""The pass runner: only the graph module (and the pipeline's context) flows between passes; a pass whose
requirement no earlier pass ensured is refused before anything runs; a failure names the pass and those
before it."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import fx, nn

import adaptgraph.graph.tracing as trace_module
from adaptgraph.errors import PassError, TraceError
from adaptgraph.graph import trace
from adaptgraph.passes import PLAN_PASSES, TIDY_PASSES, TRACED, Pass, PassResult, check_order, run_passes


def _unchanged(gm, context):
    return PassResult(gm, False)


def _retrace(gm, context):
    return PassResult(fx.symbolic_trace(gm), True)


def _linear():
    return fx.symbolic_trace(nn.Linear(3, 3))


def test_each_pass_reads_the_graph_module_the_one_before_returned_and_the_context():
    gm = _linear()
    seen = []

    def record(g, context):
        seen.append((g, context))
        return PassResult(g, False, count=len(seen))

    retrace, recorder = Pass("retrace", _retrace), Pass("record", record)
    context = object()
    out, results = run_passes(gm, [retrace, recorder], context)
    assert seen == [(out, context)] and out is not gm and out is results[retrace].graph_module
    assert list(results) == [retrace, recorder] and results[recorder].count == 1


def test_a_failing_pass_is_named_with_those_before_it():
    def broken(gm, context):
        raise KeyError("x")

    with pytest.raises(PassError) as err:
        run_passes(_linear(), [Pass("first", _unchanged), Pass("second", _unchanged), Pass("broken", broken)])
    assert err.value.problems[0].message == ("graph pass `broken` failed (KeyError: 'x'); passes run before it: "
                                             "first, second")


def test_a_pass_must_return_a_pass_result():
    with pytest.raises(PassError) as err:
        run_passes(_linear(), [Pass("counts", lambda gm, context: 3)])
    assert err.value.problems[0].message == ("graph pass `counts` failed (TypeError: the pass returned int, "
                                             "not a PassResult); passes run before it: none")


def test_a_graph_that_no_longer_lints_fails_its_pass():
    def orphan(gm, context):
        out = next(n for n in gm.graph.nodes if n.op == "output")
        out.args = (fx.Proxy(fx.Graph().placeholder("stray")).node,)  # a node of another graph
        return PassResult(gm, True)

    with pytest.raises(PassError, match=r"^error: graph pass `orphan` failed \("):
        run_passes(_linear(), [Pass("orphan", orphan)])


def test_a_requirement_no_earlier_pass_ensured_is_refused_before_any_pass_runs():
    ran = []

    def mark(gm, context):
        ran.append(gm)
        return PassResult(gm, False)

    needs = Pass("needs_shapes", mark, requires=frozenset({"shapes"}))
    gives = Pass("gives_shapes", mark, ensures=frozenset({"shapes"}))
    with pytest.raises(PassError) as err:
        run_passes(_linear(), [Pass("first", mark), needs, gives])
    assert err.value.problems[0].message == ("graph pass `needs_shapes` requires `shapes`, which no earlier pass "
                                             "ensures (`gives_shapes` ensures it but runs after it)")
    assert ran == []
    with pytest.raises(PassError, match="no pass in the list ensures it"):
        run_passes(_linear(), [needs])
    run_passes(_linear(), [gives, needs])
    run_passes(_linear(), [needs], given=frozenset({"shapes"}))
    assert len(ran) == 3


def test_a_property_a_pass_invalidates_must_be_ensured_again():
    gives = Pass("gives_shapes", _unchanged, ensures=frozenset({"shapes"}))
    rebuilds = Pass("rebuild", _unchanged, invalidates=frozenset({"shapes"}))
    needs = Pass("needs_shapes", _unchanged, requires=frozenset({"shapes"}))
    with pytest.raises(PassError, match=r"`needs_shapes` requires `shapes`"):
        check_order([gives, rebuilds, needs])
    assert "shapes" in check_order([gives, rebuilds, gives, needs])


def test_the_pipelines_hold_their_contracts():
    assert TRACED == check_order(TIDY_PASSES) and {"shapes", "one_output", "no_dead_code"} <= TRACED
    held = check_order(PLAN_PASSES, TRACED)
    assert {"adapters_installed", "recurrent_unrolled", "frozen", "frozen_in_eval", "no_dead_code"} <= held
    # unroll_recurrent reads the marks insert_forward_edges leaves: run before it, it is refused by name
    names = [p.name for p in PLAN_PASSES]
    insert, unroll = names.index("insert_forward_edges"), names.index("unroll_recurrent")
    swapped = list(PLAN_PASSES)
    swapped[insert], swapped[unroll] = swapped[unroll], swapped[insert]
    with pytest.raises(PassError) as err:
        check_order(swapped, TRACED)
    assert err.value.problems[0].message == ("graph pass `unroll_recurrent` requires `adapted_marks`, which no "
                                             "earlier pass ensures (`insert_forward_edges` ensures it but runs "
                                             "after it)")


class _InPlace(nn.Module):
    def forward(self, x):
        return (x * 2).add_(1)


def test_trace_tidies_under_the_runner_and_reports_a_failing_tidy_pass(monkeypatch):
    inputs = (torch.randn(2, 3),)
    traced = trace(_InPlace(), inputs, frontend="fx")
    assert traced.notes == ("in-place ops made out-of-place: add_",)

    def broken(gm, context):
        raise ValueError("boom")

    broken_tidy = tuple(replace(p, fn=broken) if p.name == "remove_inplace_ops" else p for p in TIDY_PASSES)
    monkeypatch.setattr(trace_module, "TIDY_PASSES", broken_tidy)
    with pytest.raises(TraceError) as err:
        trace(_InPlace(), inputs, frontend="fx")
    assert err.value.problems[0].message == (
        "could not trace the model with fx: graph pass `remove_inplace_ops` failed (ValueError: boom); "
        "passes run before it: select_output, propagate_shapes")
