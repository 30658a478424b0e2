"""Path globs: ``*`` stands for exactly one dotted path segment."""
from __future__ import annotations

import re


def glob_regex(text: str, shared: bool) -> re.Pattern:
    """A regex for ``text``; with ``shared``, every ``*`` must match the same segment (group ``seg``)."""
    parts = []
    seen = False
    for segment in text.split("."):
        if segment != "*":
            parts.append(re.escape(segment))
        elif shared and seen:
            parts.append("(?P=seg)")
        else:
            parts.append("(?P<seg>[^.]+)" if shared else "[^.]+")
            seen = True
    return re.compile(r"\.".join(parts))


def has_star(text: str) -> bool:
    return "*" in text.split(".")


def bind(text: str, value: str) -> str:
    """``text`` with every ``*`` segment replaced by ``value``."""
    return ".".join(value if seg == "*" else seg for seg in text.split("."))


def natural_key(value: str) -> tuple:
    """Sort ``"10"`` after ``"9"``: numbers by value, then names."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)
