"""One line on stderr for each slow step (loading a backbone, tracing it), only when stderr is a terminal.

``with step("loading hf:minilm"):`` prints ``loading hf:minilm ...`` and, when the block
ends, the seconds it took on the same line. Nothing is printed into pipes, files or
captured test output, so ``--json`` output and logs stay clean.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


def on_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Say ``what`` is happening, then how long it took (or that it failed)."""
    if not on_terminal():
        yield
        return
    sys.stderr.write(f"{what} ...")
    sys.stderr.flush()
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        sys.stderr.write(" failed\n")
        raise
    sys.stderr.write(f" {time.perf_counter() - started:.1f} s\n")
    sys.stderr.flush()
