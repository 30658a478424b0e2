"""Pydantic validation errors -> user-grade problems (field path, bad value, allowed values, did-you-mean)."""
from __future__ import annotations

import typing

from pydantic import ValidationError

from ..errors import Problem, did_you_mean
from .models import OPTION_NAMES, Act, Init, Norm

_ALLOWED = {"act": typing.get_args(Act), "norm": typing.get_args(Norm), "init": typing.get_args(Init)}
_TOP_FIELDS = ("name", "backbone", "defaults", "templates", "edges", "train", "stream", "passes")
_EDGE_FIELDS = ("kind", "src", "dst", "name", "template", "options")
_TAGS = {"edge", "loop"}


def describe(err: ValidationError) -> list[Problem]:
    out, seen = [], set()
    for e in err.errors(include_url=False):
        path = _path(e["loc"])
        problem = _problem(e, path)
        key = (problem.path, problem.message)
        if key not in seen:  # unions report one error per member; keep the first
            seen.add(key)
            out.append(problem)
    return out


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS or str(part).startswith(("function-", "literal[", "float", "int", "bool", "str")):
            continue  # discriminator tags and union member names are noise to a user
        else:
            out += f".{part}" if out else str(part)
    return out


def _field(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[")[0]


def _problem(e: dict, path: str) -> Problem:
    kind, field, value = e["type"], _field(path), e.get("input")
    shown = _show(value)
    if kind == "extra_forbidden":
        return _unknown_field(path, field)
    if field in _ALLOWED:
        allowed = _ALLOWED[field]
        hint = did_you_mean(str(value), allowed) if isinstance(value, str) else ""
        return Problem(f"{field} = {shown} is not allowed; allowed: {', '.join(allowed)}", path=path, hint=hint)
    if field == "scale":
        return Problem(f"scale = {shown} is not allowed; use a finite number or `learn`", path=path,
                       hint=did_you_mean(str(value), ["learn"]) if isinstance(value, str) else "")
    if field == "rank":
        return Problem(f"rank = {shown} is not allowed; rank is an integer from 1 to 1000000", path=path)
    if field == "dropout":
        return Problem(f"dropout = {shown} is not allowed; dropout is a number in [0, 1)", path=path)
    if field == "bias":
        return Problem(f"bias = {shown} is not allowed; use true or false", path=path,
                       hint=did_you_mean(str(value), ["true", "false"]) if isinstance(value, str) else "")
    if field == "passes":
        return Problem(f"passes = {shown} is not allowed; passes is an integer from 2 to 64", path=path,
                       hint="a recurrent edge needs at least 2 passes")
    if field in ("src", "dst") and kind == "value_error":
        return Problem(str(e["ctx"]["error"]), path=path)
    if kind == "string_pattern_mismatch":
        return Problem(f"{shown} is not a valid {field.replace('_', ' ')}", path=path, hint=_pattern_hint(field))
    if kind == "value_error":
        return Problem(str(e["ctx"]["error"]), path=path)
    return Problem(f"{field or 'value'}: {e['msg'].lower()} (got {shown})", path=path)


def _unknown_field(path: str, field: str) -> Problem:
    if ".options." in f".{path}" or path.startswith(("defaults", "templates")):
        hint = did_you_mean(field, OPTION_NAMES) or "options: " + ", ".join(OPTION_NAMES)
        return Problem(f"unknown option {field!r}", path=path, hint=hint)
    fields = _EDGE_FIELDS if path.startswith("edges") else _TOP_FIELDS
    return Problem(f"unknown field {field!r}", path=path, hint=did_you_mean(field, fields) or
                   "fields: " + ", ".join(fields))


def _pattern_hint(field: str) -> str:
    if field in ("train", "stream") or field.startswith("train"):
        return "write a module path such as encoder.layer.5.output.LayerNorm (`*` matches one segment)"
    return "names start with a letter or '_' and hold letters, digits and '_'"


def _show(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = str(value).lower()
    return text if len(text) <= 60 else text[:57] + "..."
