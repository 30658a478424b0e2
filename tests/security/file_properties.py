"""Shared pieces of the property tests on every file format adaptgraph reads (issue 21).

``run_bounded`` runs one read (or one CLI command) on one mutated input and checks the three
promises: only adaptgraph's errors escape (the CLI exits 0, 1 or 2, never 3), it ends within
``TIME_LIMIT_S``, and nothing outside the output folder is written.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from adaptgraph.errors import AdaptGraphError

TIME_LIMIT_S = 20.0  # CPU seconds, generous: a model folder is loaded and traced; a hang is what is caught
FEW = settings(max_examples=25, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every file under ``root`` (but ``skip``) with its size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath).resolve().is_relative_to(skip.resolve()):
            continue
        for name in filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


def run_bounded(fn, root: Path, out: Path | None = None):
    """``fn()``: its result or the AdaptGraphError it raised; fails on any other exception, on taking longer
    than TIME_LIMIT_S, on a CLI exit code of 3, or on a write under ``root`` outside ``out``."""
    before = snapshot(root, out)
    start = time.process_time()  # CPU time: a busy machine does not make a bounded read look unbounded
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            result = fn()
    except AdaptGraphError as e:
        e.format()
        result = e
    elapsed = time.process_time() - start
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.1f} s of CPU"
    assert not (isinstance(result, int) and not isinstance(result, bool) and result not in (0, 1, 2)), \
        f"exit code {result}: {printed.getvalue()[-2000:]}"
    assert snapshot(root, out) == before, "a file outside the output folder was written"
    return result


def mutated(data: bytes):
    """A strategy of ``data`` with a few bytes flipped, cut, inserted or repeated."""
    @st.composite
    def build(draw):
        raw = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
            at = draw(st.integers(0, max(0, len(raw) - 1)))
            if op == "flip" and raw:
                raw[at] = draw(st.integers(0, 255))
            elif op == "cut":
                del raw[at:at + draw(st.integers(1, 16))]
            elif op == "insert":
                raw[at:at] = draw(st.binary(min_size=1, max_size=16))
            else:
                del raw[at:]
        return bytes(raw)
    return build()


def json_values(depth: int = 3):
    """Any JSON value, hostile numbers included (huge, tiny, negative, of the wrong type)."""
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=20),
                     st.floats(allow_nan=False, allow_infinity=False),
                     st.sampled_from([0, -1, 1e308, 4e9, 10**40, "32", "", [], {}]))
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=depth * 3)
