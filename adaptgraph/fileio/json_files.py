"""JSON files read through typed models: every problem names the file and the field.

A JSON file is read with the ``json`` bound, decoded as UTF-8, parsed without the NaN and
Infinity literals, without a key given twice in one object, without integers of thousands of
digits and without nesting that exhausts the stack; then checked by a pydantic model whose fields carry their bounds (a ``1e999``, read
as infinity, or a 400-digit number is refused there, naming its field).
"""
from __future__ import annotations

import json
import os
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import AdaptGraphError, FileAccessError, Problem
from .reading import read_bytes

M = TypeVar("M", bound=BaseModel)
MAX_INT_DIGITS = 4000  # below Python's own limit (4300), so that the model names the field


def read_json(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the JSON file", hint: str = ""):
    """The JSON value in ``path`` (bounded, regular file), or ``error`` naming the file and the problem."""
    return parse_json(read_bytes(path, "json", error=error, what=what), path, error=error, hint=hint)


def parse_json(raw: bytes | str, path, *, error: type[AdaptGraphError] = FileAccessError, hint: str = ""):
    """``raw`` parsed as JSON, or ``error`` naming ``path``, the position and what is wrong."""
    where = os.fspath(path)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise error(f"{where}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x})",
                        hint=hint or "JSON files are UTF-8 text") from None
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_int=_bounded_int, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        raise error(f"{where}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})", hint=hint) from None
    except _BadNumber as e:
        raise error(f"{where}: {e}", hint=hint) from None
    except RecursionError:
        raise error(f"{where}: the JSON nests too deeply", hint=hint) from None


def validate_model(model: type[M], data, path, *, error: type[AdaptGraphError] = FileAccessError,
                   hint: str = "") -> M:
    """``model`` checked from ``data``; ``error`` with one problem per field, each naming ``path`` and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = [Problem(f"{os.fspath(path)}: {_field(err['loc'])}{_message(err)}", hint=hint)
                    for err in e.errors(include_url=False)[:20]]
        raise error(problems=problems) from None
    except RecursionError:
        raise error(f"{os.fspath(path)}: the JSON nests too deeply", hint=hint) from None


def read_model(path, model: type[M], *, error: type[AdaptGraphError] = FileAccessError, what: str = "the JSON file",
               hint: str = "") -> M:
    """``read_json`` then ``validate_model``."""
    return validate_model(model, read_json(path, error=error, what=what, hint=hint), path, error=error, hint=hint)


class _BadNumber(ValueError):
    pass


def _no_constant(name: str):
    raise _BadNumber(f"{name} is not a number a file may hold (JSON has no NaN or infinity)")


def unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are all different: with a key twice, one reader takes the first value and
    another the last, so a file could say one thing to a check and another to its use."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _BadNumber(f"the key {twice[:80]!r} appears twice in one object")
    return out


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _BadNumber(f"a whole number of {len(text)} digits ({text[:12]}...) is beyond any value a field takes")
    return int(text)


def _field(loc) -> str:
    shown = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
    return f"field {shown!r}: " if shown else ""


def _message(err: dict) -> str:
    value = err.get("input")
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{err['msg']} (found {shown})" if not isinstance(value, (dict, list)) else err["msg"]
