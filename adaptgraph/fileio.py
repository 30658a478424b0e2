"""Atomic file writes: an interrupted write never leaves a half-written file that looks complete."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import WriteError

__all__ = ["write_bytes_atomic", "write_text_atomic"]


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a place the user cannot write to is their error to fix, not a bug
        raise _cannot(path, f"cannot make its folder {str(path.parent)!r}", e) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot(path, "", e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):  # no space left, or path is a folder
            raise _cannot(path, "", e) from None
        raise


def _cannot(path: Path, what: str, e: OSError) -> WriteError:
    return WriteError(f"cannot write {str(path)!r}: {what + ': ' if what else ''}{e.strerror or e}",
                      hint="choose a file in a folder you can write to, on a disk with space left")


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
