"""Spec files as text: read, decode and check the bytes before parsing.

Every problem names the file, and the position when there is one (a byte that is not
UTF-8, a NUL character): what ``load`` reads goes through here, ``loads`` text too.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import Problem, SpecError
from .limits import MAX_FILE_BYTES, file_size_problem
from .spans import span_at_offset


def read_source(path: str | Path) -> str:
    """Read a spec file as UTF-8 (BOM allowed), with a clear error for unreadable or binary files."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # bounded: a device or a huge file is not read to its end
    except OSError as e:
        hint = "check the path" if isinstance(e, FileNotFoundError) else ""
        raise SpecError(f"cannot read {str(path)!r}: {e.strerror or e}", hint=hint) from None
    too_big = file_size_problem(len(raw), str(path))
    if too_big is not None:
        raise SpecError(problems=[too_big])
    return decode_source(raw, str(path))


def decode_source(raw: bytes, file: str) -> str:
    """Bytes -> text; a BOM is dropped, anything that is not UTF-8 is an error with its position."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        shown = raw.decode("utf-8-sig", errors="replace")
        offset = len(raw[:e.start].decode("utf-8-sig", errors="replace"))
        problem = Problem(f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x})",
                          span_at_offset(shown, file, offset), hint="is it a binary file? spec files are UTF-8 text")
        raise SpecError(problems=[problem]) from None
    return normalise_text(text, file)


def normalise_text(text: str, file: str) -> str:
    """Drop a leading BOM; refuse text with NUL characters (a binary file) or too much of it."""
    too_big = file_size_problem(len(text), file)  # characters: at least as many bytes
    if too_big is not None:
        raise SpecError(problems=[too_big])
    text = text.lstrip("\ufeff")
    nul = text.find("\x00")
    if nul >= 0:
        problem = Problem("the file holds a NUL character", span_at_offset(text.replace("\x00", " "), file, nul),
                          hint="is it a binary file? spec files are UTF-8 text")
        raise SpecError(problems=[problem])
    return text
