"""Spec files as text: read, decode and check the bytes before parsing.

Every problem names the file, and the position when there is one (a byte that is not
UTF-8, a NUL character): what ``load`` reads goes through here, ``loads`` text too.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..errors import Problem, SpecError, SpecWarning
from ..fileio import read_bytes
from .limits import file_size_problem
from .spans import span_at_offset


def read_source(path: str | Path) -> str:
    """Read a spec file as UTF-8 (BOM allowed), with a clear error for unreadable or binary files."""
    # bounded, regular files only: a device, a FIFO or a huge file is not read to its end
    raw = read_bytes(path, "spec", error=SpecError, what="the spec file", keep_excess=True)
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
    return normalise_text(text, file, warn=False)


def normalise_text(text: str, file: str, warn: bool = True) -> str:
    """Drop a leading BOM; refuse text with NUL characters (a binary file) or too much of it; ``warn`` about
    bidirectional controls (``decode_source`` leaves that to ``loads``, which every text reaches)."""
    too_big = file_size_problem(len(text), file)  # characters: at least as many bytes
    if too_big is not None:
        raise SpecError(problems=[too_big])
    text = text.lstrip("\ufeff")
    if warn:
        warn_bidi(text, file)
    nul = text.find("\x00")
    if nul >= 0:
        problem = Problem("the file holds a NUL character", span_at_offset(text.replace("\x00", " "), file, nul),
                          hint="is it a binary file? spec files are UTF-8 text")
        raise SpecError(problems=[problem])
    return text


# Bidirectional controls reorder how text is shown, not how it is read: a comment can look like code
# and code like a comment ("Trojan Source", CVE-2021-42574). Compilers warn; so does adaptgraph.
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
MAX_BIDI_WARNINGS = 5


def warn_bidi(text: str, file: str) -> None:
    """A ``SpecWarning`` with ``file:line:col`` for each bidirectional control character (the first few)."""
    for count, m in enumerate(BIDI.finditer(text)):
        if count == MAX_BIDI_WARNINGS:
            warnings.warn(SpecWarning(f"{file}: warning: more bidirectional control characters not shown"),
                          stacklevel=2)
            return
        span = span_at_offset(text, file, m.start())
        warnings.warn(SpecWarning(f"{span.where()}: warning: bidirectional control character U+{ord(m.group()):04X} "
                                  "(the text may show differently from how it is read)"), stacklevel=2)
