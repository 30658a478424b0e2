"""Edge facts: the one kind rule and the one cost formula that spec, plan, score and search share."""
import numpy as np
import pytest

from adaptgraph.spec import BUILTIN_OPTIONS, Options, parse_point
from adaptgraph.spec.edge_facts import (adapter_flops, adapter_parameters, bind_glob, edge_kind, fitting_kind,
                                        glob_regex, has_glob, module_of_ports, stream_index, stream_name)


def test_kind_from_names_and_orders():
    assert edge_kind("blocks.0.in", "blocks.0.out", 3, 7) == "parallel"
    assert edge_kind("blocks.0.out", "blocks.0.in", 7, 3) == "recurrent"
    assert edge_kind("@3", "%add_4", 5, 5) == "sequential"  # two names of one value
    assert edge_kind("@3", "@4", 5, 9) == "parallel"
    assert edge_kind("@3", "@5", 5, 9) == "longrange"
    assert edge_kind("blocks.0.in", "blocks.1.out", 3, 9) == "longrange"  # ports of two modules


@pytest.mark.parametrize("src,dst,kind", [
    ("@2", "@2", "sequential"), ("@2", "@3", "parallel"), ("@2", "@5", "longrange"), ("@5", "@2", "recurrent"),
    ("@-2", "@-1", "parallel"), ("@-1", "@-3", "recurrent"),
    ("m.in", "m.out", "parallel"), ("m.out", "m.in", "recurrent"), ("m.out", "m.out", "sequential"),
    ("m.*.in", "m.*.out", "parallel"), ("%add", "%add", "sequential"),
    # the order needs the backbone: counted from both ends, two modules, two nodes
    ("@1", "@-1", None), ("m.in", "n.out", None), ("%add", "%mul", None), ("@0", "m.in", None),
])
def test_kind_without_a_graph(src, dst, kind):
    assert fitting_kind(parse_point(src), parse_point(dst)) == kind


def test_stream_names():
    assert stream_name(3) == "@3" and stream_index("@3") == 3 and stream_index("@-1") == -1
    assert stream_index("blocks.0.in") is None and stream_index("@{i}") is None


def test_globs_match_one_segment_and_bind_together():
    assert has_glob("blocks.*.in") and not has_glob("blocks.0.in") and not has_glob("a*b.in")
    assert glob_regex("blocks.*.attn", shared=False).fullmatch("blocks.10.attn")
    assert not glob_regex("blocks.*.attn", shared=False).fullmatch("blocks.1.2.attn")
    shared = glob_regex("b.*.x.*", shared=True)
    assert shared.fullmatch("b.3.x.3") and not shared.fullmatch("b.3.x.4")
    assert bind_glob("blocks.*.in", "7") == "blocks.7.in"


def _options(**kw) -> Options:
    return Options(**kw).over(BUILTIN_OPTIONS)


def test_parameters_of_each_part():
    # rank 4, 10 -> 6: down 4*10, up 4*6, biases 4 + 6, layer norm 2*10, learned scale 1
    assert adapter_parameters(10, 6, _options(rank=4, bias=False)) == 64
    assert adapter_parameters(10, 6, _options(rank=4)) == 74
    assert adapter_parameters(10, 6, _options(rank=4, norm="layernorm", scale="learn")) == 74 + 20 + 1
    assert adapter_flops(10, 6, _options(rank=4), positions=3) == 2 * 3 * 4 * 16


def test_parameters_of_a_whole_width_matrix_are_the_same_formula():
    widths = np.array([8, 16, 4])
    options = _options(rank=2, norm="layernorm")
    matrix = adapter_parameters(widths[:, None], widths[None, :], options)
    assert matrix.tolist() == [[adapter_parameters(int(a), int(b), options) for b in widths] for a in widths]


def test_a_module_pair_is_one_modules_input_to_its_output():
    # the parallel rule of edge_kind and the plan's edge names (``blocks.0.in -> blocks.0.out`` is ``blocks_0``)
    assert module_of_ports("blocks.0.in", "blocks.0.out") == "blocks.0"
    assert module_of_ports("blocks.0.out", "blocks.0.in") is None
    assert module_of_ports("blocks.0.in", "blocks.1.out") is None
    assert module_of_ports("@1", "@2") is None
