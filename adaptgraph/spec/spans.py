"""Source positions from offsets into a text (for errors found by scanning, not by the parser)."""
from __future__ import annotations

from ..errors import Span


def span_at_offset(text: str, file: str, offset: int, width: int = 1) -> Span:
    """The ``Span`` of character ``offset`` of ``text``: 1-based line and column, and the line's text."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return Span(file, line, offset - start + 1, text[start:end if end >= 0 else len(text)], width)
