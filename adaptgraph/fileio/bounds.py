"""How many bytes each kind of file may hold; each bound is raised with an environment variable.

A read stops at the bound (``/dev/zero`` cannot be read to its end), and the error names the
bound and the variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import AdaptGraphError, FileAccessError


@dataclass(frozen=True)
class Bound:
    default: int
    env: str  # the variable that raises it ("" where raising makes no sense)
    what: str  # "a spec file", in messages


MiB, GiB = 1 << 20, 1 << 30
BOUNDS = {
    "spec": Bound(1 * MiB, "", "a spec file"),  # the language's own limit (spec/limits.py MAX_FILE_BYTES)
    "data": Bound(1 * GiB, "ADAPTGRAPH_MAX_DATA_BYTES", "a data file"),
    "text": Bound(256 * MiB, "ADAPTGRAPH_MAX_TEXT_BYTES", "an lm: text file"),
    "json": Bound(64 * MiB, "ADAPTGRAPH_MAX_JSON_BYTES", "a JSON file"),
    "journal": Bound(1 * GiB, "ADAPTGRAPH_MAX_JOURNAL_BYTES", "a search journal"),
    "header": Bound(100 * MiB, "ADAPTGRAPH_MAX_HEADER_BYTES", "a safetensors header"),
    "copy": Bound(4 * GiB, "ADAPTGRAPH_MAX_COPY_BYTES", "a copied file"),
    "cache": Bound(256 * MiB, "ADAPTGRAPH_MAX_CACHE_BYTES", "a trace cache entry"),
    "source": Bound(64 * MiB, "", "a Python source file"),
}


def bound_of(kind: str) -> int:
    """The bound for ``kind``: its environment variable if set (a positive integer), else the default."""
    b = BOUNDS[kind]
    raw = os.environ.get(b.env) if b.env else None
    if raw is None:
        return b.default
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 1 << 62):
        raise FileAccessError(f"{b.env}={raw[:40]!r} is not a positive whole number of bytes",
                              hint=f"set {b.env} to a number of bytes, e.g. {b.default}")
    return int(raw)


def too_large(path, kind: str, error: type[AdaptGraphError] = FileAccessError) -> AdaptGraphError:
    b, n = BOUNDS[kind], bound_of(kind)
    raise_it = f"raise the bound with {b.env}=BYTES" if b.env else "this bound is fixed"
    subject = "its header" if kind == "header" else "the file"
    return error(f"{os.fspath(path)}: {subject} is larger than {_size(n)}, the bound for {b.what}",
                 hint=f"is it the right file? {raise_it}")


def _size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"
