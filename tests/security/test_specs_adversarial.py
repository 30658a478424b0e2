"""Specs written to cost: every input's work is bounded at its root, with a clear error.

Loops are bounded by the iterations they run, not only by the edges they make; `train`
in loops by the paths it makes, counted before expanding; files by the bytes read.
(tests/spec/test_fuzz.py measures time and memory over many such inputs.)
"""
from __future__ import annotations

import os

import pytest

import adaptgraph.spec as S
from adaptgraph.cli import main
from adaptgraph.errors import SpecError
from adaptgraph.spec.expand import MAX_PROBLEMS, MAX_STEPS, expand_edges, walk
from adaptgraph.spec.limits import MAX_FILE_BYTES
from adaptgraph.spec.models import Edge, Loop

TOO_LONG = (f"the spec's loops are too long: expanding them takes more than {MAX_STEPS} steps "
            "(loop iterations plus edges made)")


def test_nested_loops_that_make_no_edge_are_refused_with_every_problem():
    with pytest.raises(SpecError) as err:
        S.loads("for a in 0..9999 { for b in 0..9999 { defaults { rank = 1 } } }", "x.adapt")
    assert err.value.format().splitlines()[0] == f"x.adapt:1:1: error: {TOO_LONG} (edges[0])"
    assert "x.adapt:1:39: error: `defaults` is not allowed inside a for loop" in err.value.format()


def test_steps_are_counted_across_statements():
    """Two loops each under the bound, together over it: the second is named."""
    loop = "for a in 0..299 {\n for b in 0..99 { }\n}\n"
    with pytest.raises(SpecError) as err:
        S.loads(loop + loop + loop + loop, "x.adapt")
    assert err.value.format().splitlines()[0] == f"x.adapt:10:1: error: {TOO_LONG} (edges[3])"
    assert len(S.loads(loop + loop + loop).edges) == 3  # 3 x 300 x 101 = 90,900 steps: fine


def test_train_in_nested_loops_is_counted_before_expanding():
    with pytest.raises(SpecError) as err:
        S.loads("for a in 0..9999 {\n for b in 0..9999 {\n  train blocks.{a}.n{b}\n }\n}\n", "x.adapt")
    assert "x.adapt:3:3: error: `train` in these loops makes 100000000 module paths (at most 1000 in all)\n" \
           in err.value.format()
    assert "hint: train whole blocks with a `*` glob" in err.value.format()
    spec = S.loads("for a in 0..9 {\n for b in 0..99 {\n  train blocks.{a}.n{b}\n }\n}\n")
    assert len(spec.train) == 1000 and S.loads(S.dumps(spec)) == spec  # the limit still round-trips


@pytest.mark.parametrize("suffix,text", [
    (".json", '{"edges": [{"var": "a", "start": 0, "stop": 9999, "body": '
              '[{"var": "b", "start": 0, "stop": 9999, "body": []}]}]}'),
    (".adapt.yaml", "edges:\n- var: a\n  start: 0\n  stop: 9999\n  body:\n  - {var: b, start: 0, stop: 9999, body: []}\n"),
])
def test_nested_loops_in_yaml_and_json_are_refused_at_their_position(tmp_path, suffix, text):
    path = tmp_path / f"loops{suffix}"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        S.load(path)
    line, col = (1, 12) if suffix == ".json" else (2, 3)
    assert err.value.format().splitlines()[0] == f"{path}:{line}:{col}: error: {TOO_LONG} (edges[0])"


def test_python_specs_and_expansion_share_the_bound():
    inner = Loop(var="b", start=0, stop=9999)
    with pytest.raises(SpecError, match="loops are too long"):
        S.Spec(edges=[Loop(var="a", start=0, stop=9999, body=[inner])])
    with pytest.raises(ValueError, match=f"loops run more than {MAX_STEPS} iterations"):
        expand_edges((Loop(var="a", start=0, stop=9999, body=[inner]),))


def test_expanding_stops_once_errors_pile_up():
    problems: list = []
    body = [Edge(src="b.{-a - 1}.in", dst="@1")]  # a different message for every value
    assert list(walk((Loop(var="a", start=0, stop=9999, body=body),), problems=problems)) == []
    assert len(problems) == MAX_PROBLEMS


def test_file_size_is_capped_before_reading_it_all(tmp_path):
    big = tmp_path / "big.adapt"
    big.write_text("\n" * (MAX_FILE_BYTES + 1))
    message = f"error: the file is too large: more than {MAX_FILE_BYTES} bytes (a spec is at most that)"
    with pytest.raises(SpecError) as err:
        S.load(big)
    assert err.value.format().splitlines()[0] == f"{big}:1:1: {message}"
    with pytest.raises(SpecError, match="the file is too large"):
        S.loads("\n" * (MAX_FILE_BYTES + 1))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_check_dev_zero_ends_with_exit_1(capsys):
    assert main(["check", "/dev/zero"]) == 1
    # refused at once, before reading a byte: a device is not a regular file (issue 21)
    assert "error: /dev/zero: cannot read the spec file: it is a device, not a regular file" in capsys.readouterr().err


def test_a_million_newlines_parse_in_little_memory():
    """The separator and string terminals are possessive: no backtracking entry per character."""
    import tracemalloc

    S.loads("edge @1 -> @2")  # the parser is built once, outside the measurement
    tracemalloc.start()
    try:
        S.loads("\n" * 1_000_000 + "edge @1 -> @2")
        with pytest.raises(SpecError):
            S.loads('backbone "' + "s" * 1_000_000 + '"')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20  # the text is 1 MB; the backtracking regexes took over 100 MB


def test_adapter_size_is_checked_against_the_backbone_before_allocating():
    """rank = 1000000 on 64-wide points would allocate 129 M parameters (0.5 GB per edge); the plan refuses it."""
    import adaptgraph
    from adaptgraph.errors import PlanError

    spec = S.loads("edge @1 -> @2 { rank = 1000000 }\nedge @2 -> @3\n", "big.adapt")
    with pytest.raises(PlanError) as err:
        adaptgraph.compile(spec, "zoo:vit-tiny")
    assert err.value.format().splitlines()[0] == (
        "big.adapt:1:17: error: the adapters would hold 129,001,160 parameters, over the limit of 4,194,304 for "
        "this backbone (4 times its 213,568, at least 4,194,304); the largest, s1__s2, has rank 1000000 between "
        "64 and 64 features (edges[0].options.rank)")
    assert adaptgraph.compile(S.loads("edge @1 -> @2 { rank = 64 }"), "zoo:vit-tiny") is not None


@pytest.mark.parametrize("value,shown", [("1:30", "'1:30'"), ("0x10", "16"), ("010", "10"), ("1_000", "'1_000'")])
def test_yaml_numbers_are_read_as_yaml_1_2_does(tmp_path, value, shown):
    """YAML 1.1 read `1:30` as 90 (base 60) and `010` as 8: a spec said another rank than the one written."""
    path = tmp_path / "r.adapt.yaml"
    path.write_text(f"defaults: {{rank: {value}, scale: 2}}\n")
    if shown.isdigit():
        assert S.load(path).defaults.rank == int(shown)
        return
    with pytest.raises(SpecError) as err:
        S.load(path)
    assert err.value.format().splitlines()[0] == (
        f"{path}:1:18: error: rank = {shown} is not allowed; rank is an integer from 1 to 1000000 (defaults.rank)")


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y"])
def test_yaml_yes_and_on_are_text_not_booleans(tmp_path, word):
    path = tmp_path / "b.adapt.yaml"
    path.write_text(f"name: {word}\ndefaults: {{bias: {word}}}\n")
    with pytest.raises(SpecError) as err:
        S.load(path)
    assert err.value.format().splitlines()[0] == (
        f"{path}:2:18: error: bias = '{word}' is not allowed; use true or false (defaults.bias)")
    path.write_text(f"name: {word}\n")
    assert S.load(path).name == word  # a name, as written (1.1 made it a boolean and refused it)


def test_a_key_given_twice_is_an_error_in_yaml_and_json(tmp_path):
    yml = tmp_path / "d.adapt.yaml"
    yml.write_text("passes: 3\ndefaults:\n  rank: 2\n  rank: 4\npasses: 4\n")
    with pytest.raises(SpecError) as err:
        S.load(yml)
    lines = err.value.format().splitlines()
    assert lines[0] == f"{yml}:4:3: error: key 'rank' is given twice in one mapping (first at line 3) (defaults.rank)"
    assert f"{yml}:5:1: error: key 'passes' is given twice in one mapping (first at line 1) (passes)" in lines
    js = tmp_path / "d.json"
    js.write_text('{"passes": 3,\n "edges": [{"src": "@1", "dst": "@2", "src": "@3"}]}')
    with pytest.raises(SpecError) as err:
        S.load(js)
    assert err.value.format().splitlines()[0] == (
        f"{js}:2:39: error: key 'src' is given twice in one mapping (first at line 2) (edges[0].src)")


def test_json_errors_have_positions_even_where_yaml_cannot_read_the_file(tmp_path):
    """Escaped surrogate pairs are valid JSON that YAML refuses: positions no longer come from YAML."""
    path = tmp_path / "s.json"
    path.write_text('{"name": "\\ud83d\\ude00", "defaults": {"rank": 0}}')
    with pytest.raises(SpecError) as err:
        S.load(path)
    assert [line.split(": error")[0] for line in err.value.format().splitlines() if ": error" in line] == [
        f"{path}:1:10", f"{path}:1:47"]


def test_globs_cannot_multiply_edges_past_the_bound():
    """3,000 written edges, each a glob over vit-tiny's 4 blocks: 12,000 adapters (21 s to build) are refused."""
    import adaptgraph
    from adaptgraph.errors import PlanError
    from adaptgraph.spec.expand import MAX_EDGES

    spec = S.loads("for i in 0..2999 {\n  parallel blocks.*.mlp as a{i} { rank = 1 }\n}\n", "g.adapt")
    with pytest.raises(PlanError) as err:
        adaptgraph.compile(spec, "zoo:vit-tiny")
    assert err.value.format().splitlines()[0] == (
        f"g.adapt:2:3: error: the spec makes more than {MAX_EDGES} adapters on this backbone (globs counted) "
        "(edges[0].body[0])")
