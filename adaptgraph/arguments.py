"""Checks at the Python API's boundary: a wrong type or value is an ``ArgumentError`` naming the parameter,
not an ``AttributeError`` from deep inside, nor a file that the loader later refuses.

What ``compile`` accepts, ``save_adapters`` writes and ``load_adapters`` reads back: the seed bound here is
the one an adapter file's metadata is checked against (``adaptgraph.file_checks``).
"""
from __future__ import annotations

import os

from .errors import ArgumentError

SEED_LIMIT = 2**63  # seeds are whole numbers 0 <= seed < 2**63, as adapter files hold them


def check_seed(value, param: str = "seed") -> int:
    """``value`` when it is a whole number (not a bool) in [0, 2**63); ArgumentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{param} must be a whole number (int), not {_shown(value)}",
                            hint=f"pass {param}=0, or another int from 0 to 2**63 - 1")
    if not 0 <= value < SEED_LIMIT:
        raise ArgumentError(f"{param} must be from 0 to 2**63 - 1, not {value}", hint=f"pass {param}=0")
    return value


def check_name(value, param: str, *, optional: bool = True) -> str | None:
    """``value`` when it is text (or None, when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ArgumentError(f"{param} must be a name (str){' or None' if optional else ''}, not {_shown(value)}")
    return value


def check_path(value, param: str) -> str | os.PathLike:
    """``value`` when it is a path (str or os.PathLike)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentError(f"{param} must be a path (str or pathlib.Path), not {_shown(value)}")
    return value


def check_flag(value, param: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"{param} must be True or False, not {_shown(value)}")
    return value


def check_instance(value, kinds: tuple, param: str, expected: str):
    if not isinstance(value, kinds):
        raise ArgumentError(f"{param} must be {expected}, not {_shown(value)}")
    return value


def _shown(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
