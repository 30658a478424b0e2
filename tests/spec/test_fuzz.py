"""Fuzzing: whatever the input, only adaptgraph's own errors escape, and quickly.

Inputs: random and binary junk, valid specs mutated by character and by token, and a
list of hostile shapes (huge numbers, deep nesting, a 1 MB line, huge loop ranges, alias
bombs, nested loops that make nothing), in ``.adapt`` text, YAML/JSON and the spec held
in an adapter file's metadata. Each must load or be rejected with an ``AdaptGraphError`` in
under a second (of CPU time always, and of wall time unless other processes oversubscribe
the machine); the hostile ones also within ``MEMORY_LIMIT_MB`` of Python allocations. The
CLI must exit 0 or 1 and never print a traceback.
"""
from __future__ import annotations

import gc
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adaptgraph.spec as S
from adaptgraph.errors import AdaptGraphError
from adaptgraph.spec.files import decode_source
from adaptgraph.spec.syntax import parser

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted([*ROOT.glob("specs/*.adapt"), *ROOT.glob("tests/golden/*/*.adapt")])
TIME_LIMIT_S = 1.0
# Peak Python allocations (tracemalloc) while loading one hostile input of at most ~1 MB. Measured
# peaks are under 12 MB (6000 YAML edges); 64 MB is far below what an unbounded input reaches (the
# nested loops below grew by 60 MB/s, a 1 MB string once took 120 MB in a backtracking regex).
MEMORY_LIMIT_MB = 64
TOKEN = re.compile(r"\s+|\w+|->|\.\.|\S")
SPECIALS = ["{", "}", "->", "@", "%", "*", ".", "..", "[", "]", ",", ";", "\n", "=", ":", "as", "for", "in",
            "edge", "{i}", "@{i+1}", "9" * 40, "-", "#", '"', "\\", "1e999", "\r\n", "\ufeff", "\x00", "{{",
            "parallel", "recurrent", "-1", "0.5", "learn", "\t", "\u2028", "é", "\U0001F600"]


@pytest.fixture(scope="module", autouse=True)
def warm_parser():
    parser()  # building the LALR tables once is not part of any input's time


@pytest.fixture(scope="module", autouse=True)
def heap_of_earlier_tests_frozen():
    """The time limits bound the work an input causes. A full garbage collection walks the whole heap,
    which in an xdist worker holds what earlier tests loaded (torch, models: millions of objects), and
    one landing inside a timed load took 0.66 s of its own (measured with 6 M objects; the test once
    failed at 1.09 s). Freezing that heap keeps it out of every collection while this module runs."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def _outcome(load, arg) -> str:
    """Run ``load(arg)``: 'ok' or 'error'; anything but an AdaptGraphError fails the test."""
    # this thread's CPU time: loading a spec is pure Python on this thread, while torch's threads left
    # spinning by an earlier test in the same worker would count in the process's time
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        spec = load(arg)
    except AdaptGraphError as e:
        e.format()  # formatting must not fail either
        spec = None
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert cpu < TIME_LIMIT_S, f"took {cpu:.2f} s of CPU: {str(arg)[:200]!r}"
    if not _machine_is_busy():  # on an oversubscribed machine, wall time measures the other processes
        assert wall < TIME_LIMIT_S, f"took {wall:.2f} s: {str(arg)[:200]!r}"
    if spec is None:
        return "error"
    assert S.loads(S.dumps(spec)) == spec  # whatever loads also round-trips
    return "ok"


def _bounded(load, arg) -> str:
    """``_outcome``, then the same load again under tracemalloc (slower, so timed apart) for its peak."""
    outcome = _outcome(load, arg)
    tracemalloc.start()
    try:
        load(arg)
    except AdaptGraphError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_MB, f"peak {peak:.0f} MB: {str(arg)[:200]!r}"
    return outcome


def _machine_is_busy() -> bool:
    return os.getloadavg()[0] > (os.cpu_count() or 1)


def _mutate_chars(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(len(chars) + 1)
        op = rnd.random()
        if op < 0.35 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op < 0.7:
            chars.insert(i, rnd.choice(SPECIALS) if rnd.random() < 0.7 else chr(rnd.randrange(1, 0x3000)))
        elif chars:
            j, k = rnd.randrange(len(chars)), min(i, len(chars) - 1)
            chars[j], chars[k] = chars[k], chars[j]
    return "".join(chars)


def _mutate_tokens(text: str, rnd: random.Random, pool: list[str]) -> str:
    tokens = TOKEN.findall(text)
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(tokens) + 1)
        op = rnd.random()
        if op < 0.3 and tokens:
            del tokens[min(i, len(tokens) - 1)]
        elif op < 0.6:
            tokens.insert(i, rnd.choice(pool))
        elif op < 0.8 and tokens:
            j, k = rnd.randrange(len(tokens)), min(i, len(tokens) - 1)
            tokens[j], tokens[k] = tokens[k], tokens[j]
        elif tokens:  # duplicate a run of tokens (repeated statements, doubled braces)
            j = rnd.randrange(len(tokens))
            tokens[j:j] = tokens[j:j + rnd.randint(1, 8)]
    return "".join(tokens)


def test_seeds_are_there():
    assert len(SEEDS) >= 20


def test_mutated_specs_load_or_fail_cleanly_and_quickly():
    rnd = random.Random(20240607)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in SEEDS]
    pool = sorted({t for text in texts for t in TOKEN.findall(text)} | set(SPECIALS))
    outcomes = {"ok": 0, "error": 0}
    for n in range(600):
        seed = texts[n % len(texts)]
        text = _mutate_chars(seed, rnd) if n % 2 else _mutate_tokens(seed, rnd, pool)
        outcomes[_outcome(S.loads, text)] += 1
    assert outcomes["ok"] > 20 and outcomes["error"] > 200  # the mutations exercise both paths


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SPECIALS) | st.characters(), max_size=60).map("".join))
def test_random_text_loads_or_fails_cleanly(text: str):
    _outcome(S.loads, text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_load_or_fail_cleanly(raw: bytes):
    _outcome(lambda b: S.loads(decode_source(b, "junk.adapt"), "junk.adapt"), raw)


def _hostile_texts() -> dict[str, str]:
    deep_loops = "".join(f"for v{k} in 0..1 {{\n" for k in range(2000)) + "edge @1 -> @2\n" + "}\n" * 2000
    return {
        "empty": "",
        "only a BOM": "\ufeff",
        "BOM and CRLF": "\ufeffspec x\r\nedge @1 -> @2\r\nfor i in 0..1 {\r\n  parallel b.{i}.a\r\n}\r\n",
        "CR only": "spec x\redge @1 -> @2\r",
        "10,000 open braces": "{" * 10_000,
        "10,000 nested braces": "{" * 10_000 + "}" * 10_000,
        "10,000 close braces": "}" * 10_000,
        "10,000 nested option blocks": "defaults " + "{" * 10_000 + "}" * 10_000,
        "10,000 braces in a path": "edge a." + "{" * 10_000 + "i" + "}" * 10_000 + ".in -> @1",
        "1 MB line of one word": "x" * 1_000_000,
        "1 MB module path": "edge " + "a." * 500_000 + "in -> @1",
        "1 MB line of statements": "edge @1 -> @1;" * 75_000,
        "1 MB comment": "#" + "c" * 1_000_000 + "\nedge @1 -> @2",
        "1 MB string": 'backbone "' + "s" * 1_000_000 + '"',
        "1 MB of spaces": " " * 1_000_000,
        "100,000 blank lines": "\n" * 100_000,
        "huge integer": "edge @1 -> @2 { rank = " + "9" * 5000 + " }",
        "huge float": "edge @1 -> @2 { scale = 1" + "0" * 400 + ".5 }",
        "huge stream index": "edge @" + "9" * 900 + " -> @1",
        "huge loop range": "for i in 0..999999999 {\n  edge @{i} -> @{i}\n}",
        "huge negative range": "for i in -999999999999..999999999999 {\n  edge @{i} -> @{i}\n}",
        "long loop list": "for i in [" + ", ".join(map(str, range(3000))) + "] {\n  edge @{i} -> @{i}\n}",
        "loops multiplying": "for a in 0..99 {\nfor b in 0..99 {\nfor c in 0..99 {\n  edge @{a} -> @{b+c}\n}\n}\n}",
        "2000 nested loops": deep_loops,
        "huge expression": "for i in 0..1 {\n  edge @{" + "i*" * 5000 + "2} -> @1\n}",
        "expression overflow": "for i in 0..9 {\n  edge @{" + "99999*" * 30 + "i} -> @1\n}",
        "deep parentheses": "for i in 0..1 {\n  edge @{" + "(" * 150 + "i" + ")" * 150 + "} -> @1\n}",
        "many errors": "edge @1 -> @2 { rank = 0 }\n" * 900,
        "many syntax errors": "edge @1\n" * 2000,
        "many options": "defaults { " + "rank = 1, " * 1200 + "}",
        "many edges at the limit": "".join(f"edge @{i} -> @{i}\n" for i in range(999)),
        "edges at the limit and an error at the end": "".join(f"edge @{i} -> @{i}\n" for i in range(998)) + "edge @",
        "control characters": "".join(chr(c) for c in range(1, 32)) * 100,
        "unicode line separators": "edge @1 -> @2\u2028edge @2 -> @3\u0085",
        "escapes in a string": 'backbone "' + "\\" * 10_001 + '"',
        "nested loops that make nothing": "for a in 0..9999 {\n for b in 0..9999 {\n  defaults { rank = 1 }\n }\n}",
        "nested empty loops": "for a in 0..9999 { for b in 0..9999 { for c in 0..9999 { } } }",
        "train in nested loops": "for a in 0..9999 {\n for b in 0..9999 {\n  train blocks.{a}.n{b}\n }\n}",
        "train in loops at the limit": "for a in 0..9 {\n for b in 0..99 {\n  train blocks.{a}.n{b}\n }\n}",
        "a bad expression in every iteration": "for a in 0..9999 { for b in 0..9 { edge @{a // 0} -> @{b} } }",
        "a different error in every iteration": "for a in 0..9999 {\n  edge b.{0 - a}.in -> @1\n}",
        "32 nested loops of two values": "".join(f"for v{k} in 0..1 {{\n" for k in range(32)) + "}\n" * 32,
    }


@pytest.mark.parametrize("name", list(_hostile_texts()))
def test_hostile_text_is_handled_quickly(name: str):
    _bounded(S.loads, _hostile_texts()[name])


def _hostile_data() -> dict[str, str]:
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]\n" for k in range(1, 9))
    return {
        "bomb.adapt.yaml": bomb,
        "deep.json": "[" * 10_000 + "]" * 10_000,
        "deep.adapt.yaml": "[" * 10_000 + "]" * 10_000,
        "deep_loops.json": '{"edges": [' + '{"var": "v", "values": [0], "body": [' * 100 + "]}" * 100 + "]}",
        "big.json": '{"edges": [' + ", ".join(['{"src": "@1", "dst": "@2"}'] * 6000) + "]}",
        "many.adapt.yaml": "edges:\n" + "".join(f"- {{src: '@{i}', dst: '@{i}'}}\n" for i in range(3000)),
        "tags.adapt.yaml": "!!python/object:os.system {}\n",
        "keys.adapt.yaml": "? [a, b]\n: 1\n",
        "numbers.json": '{"passes": ' + "9" * 5000 + "}",
        "nan.json": '{"defaults": {"scale": NaN, "dropout": Infinity}}',
        "surrogates.json": '{"backbone": "hf:\\ud800"}',
        "types.adapt.yaml": "name: [1]\nedges: {a: 1}\ntrain: 5\ndefaults: [1]\ntemplates: {x: 5}\n",
        "null_edges.adapt.yaml": "edges: [null, 5, [], {}]\n",
        "empty.adapt.yaml": "",
        "comment.adapt.yaml": "# nothing\n",
        "empty_loops.json": '{"edges": [{"var": "a", "start": 0, "stop": 9999, "body": '
                            '[{"var": "b", "start": 0, "stop": 9999, "body": []}]}]}',
        "empty_loops.adapt.yaml": "edges:\n- var: a\n  values: [" + ", ".join(map(str, range(5000))) + "]\n"
                                  "  body:\n  - {var: b, start: 0, stop: 9999, body: []}\n",
        "loops_of_errors.json": '{"edges": [{"var": "a", "start": 0, "stop": 9999, "body": '
                                '[{"var": "b", "start": 0, "stop": 9, "body": [{"src": "@{a//0}", "dst": "@1"}]}]}]}',
    }


@pytest.mark.parametrize("name", list(_hostile_data()))
def test_hostile_yaml_and_json_are_handled_quickly(name: str, tmp_path):
    path = tmp_path / name
    path.write_text(_hostile_data()[name], encoding="utf-8")
    _bounded(S.load, path)


@pytest.mark.parametrize("name", ["nested loops that make nothing", "train in nested loops", "1 MB string",
                                  "a different error in every iteration", "many edges at the limit"])
def test_hostile_spec_in_adapter_file_metadata_is_handled_quickly(name: str, tmp_path):
    """`eval` and `load_adapters` read the spec an adapter file holds: the same bounds apply there."""
    from safetensors.torch import save_file
    import torch

    from adaptgraph.compiler.adapter_files import FORMAT, read_adapter_file

    path = tmp_path / "adapters.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": FORMAT, "spec": _hostile_texts()[name]})
    _bounded(lambda p: read_adapter_file(p).spec, path)


def test_check_command_exits_0_or_1_and_never_shows_a_traceback(tmp_path):
    files = []
    for i, text in enumerate(_hostile_texts().values()):
        files.append(tmp_path / f"t{i}.adapt")
        files[-1].write_text(text, encoding="utf-8", errors="surrogatepass")
    for name, text in _hostile_data().items():
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    (tmp_path / "junk.adapt").write_bytes(bytes(range(256)) * 10)
    files += [tmp_path / "junk.adapt", tmp_path / "missing.adapt", tmp_path]
    env = {k: v for k, v in os.environ.items() if k != "ADAPTGRAPH_DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "adaptgraph", "check", *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "internal error" not in proc.stderr
    valid = ROOT / "specs" / "minilm_gga4.adapt"
    proc = subprocess.run([sys.executable, "-m", "adaptgraph", "check", str(valid)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
