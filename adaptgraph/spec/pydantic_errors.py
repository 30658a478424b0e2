"""Pydantic validation errors -> user-grade problems (field path, bad value, allowed values, did-you-mean)."""
from __future__ import annotations

import re
import typing

from pydantic import ValidationError

from ..errors import Problem, did_you_mean
from .models import MAX_LOOP_VALUE, OPTION_NAMES, Act, Edge, Init, Kind, Loop, Norm, Spec
from .points import PATH_RE

_ALLOWED = {"act": typing.get_args(Act), "norm": typing.get_args(Norm), "init": typing.get_args(Init)}
_FIELDS = {"edge": tuple(Edge.model_fields), "loop": tuple(Loop.model_fields)}
_OPTIONS_PARENT = re.compile(r"^(?:defaults|templates\.[^.]+|.*\.options)\.[^.\[\]]+$")
_MEMBER_NAMES = ("float", "int", "bool", "str")  # union member names pydantic puts at the end of a location
_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "string_type": "text (a string)",
    "bool_type": "true or false", "bool_parsing": "true or false", "tuple_type": "a list", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def describe(err: ValidationError, loc: tuple = ()) -> list[Problem]:
    """One problem per distinct error (unions report one error per member; the first is kept);
    ``loc`` is where the validated part stands in the spec (``("edges", 2, "edge")``)."""
    out, seen = [], set()
    for e in err.errors(include_url=False):
        path, tag = _path((*loc, *e["loc"]))
        problem = _problem(e, path, tag)
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _path(loc) -> tuple[str, str]:
    """The user's field path (``edges[0].body[1].dst``) and the tag of the innermost statement."""
    out, tag, prev = "", "", None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(prev, int) and part in _FIELDS:
            tag = part  # the discriminator tag of a statement: `edge` or `loop`
        elif part == "[key]" or "[" in str(part) or (i == len(loc) - 1 and part in _MEMBER_NAMES):
            pass  # dict-key marker and union member names are noise to a user
        else:
            out += f".{part}" if out else str(part)
        prev = part
    return out, tag


def _field(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[")[0]


def _problem(e: dict, path: str, tag: str) -> Problem:
    kind, field, value = e["type"], _field(path), e.get("input")
    if kind == "extra_forbidden":
        return unknown_field(path, field, tag)
    if kind == "missing":
        return _missing(path, field, tag)
    if e["loc"] and e["loc"][-1] == "[key]":
        return Problem(f"{_show(value)} is not a valid template name", path=path, hint=_pattern_hint("name"))
    if _OPTIONS_PARENT.match(path) and field in OPTION_NAMES:
        return _option_problem(field, value, path)
    if field == "kind" and tag:
        return _choice("kind", value, typing.get_args(Kind), path)
    if field == "passes":
        return Problem(f"passes = {_show(value)} is not allowed; passes is an integer from 2 to 64", path=path,
                       hint="a recurrent edge needs at least 2 passes")
    if field in ("start", "stop", "values") and kind != "value_error":
        return Problem(f"{field} = {_show(value)} is not allowed; loop values are integers from "
                       f"-{MAX_LOOP_VALUE} to {MAX_LOOP_VALUE}", path=path)
    if field in ("src", "dst") and kind == "value_error":
        return Problem(str(e["ctx"]["error"]), path=path, hint=_point_hint(value))
    if kind == "string_pattern_mismatch" and field == "backbone":
        return Problem(f"{_show(value)} is not a valid backbone reference", path=path,
                       hint="a reference is one line of text such as \"hf:minilm\" (no control characters)")
    if kind == "string_pattern_mismatch":
        return Problem(f"{_show(value)} is not a valid {_noun(field)}", path=path, hint=_pattern_hint(field))
    if kind == "value_error":
        return Problem(str(e["ctx"]["error"]), path=path)
    if kind == "string_too_long":
        return Problem(f"{field} is too long (at most {e['ctx']['max_length']} characters)", path=path)
    if kind in _TYPE_WORDS:
        return Problem(f"{field or 'the spec'} must be {_TYPE_WORDS[kind]} (got {_show(value)})", path=path)
    return Problem(f"{field or 'value'}: {e['msg'].lower()} (got {_show(value)})", path=path)


def _option_problem(field: str, value, path: str) -> Problem:
    shown = _show(value)
    if field in _ALLOWED:
        return _choice(field, value, _ALLOWED[field], path)
    if field == "scale":
        return Problem(f"scale = {shown} is not allowed; use a finite number or `learn`", path=path,
                       hint=did_you_mean(str(value), ["learn"]) if isinstance(value, str) else "")
    if field == "rank":
        return Problem(f"rank = {shown} is not allowed; rank is an integer from 1 to 1000000", path=path)
    if field == "dropout":
        return Problem(f"dropout = {shown} is not allowed; dropout is a number in [0, 1)", path=path)
    return Problem(f"bias = {shown} is not allowed; use true or false", path=path,
                   hint=did_you_mean(str(value), ["true", "false"]) if isinstance(value, str) else "")


def _choice(field: str, value, allowed, path: str) -> Problem:
    hint = did_you_mean(str(value), allowed) if isinstance(value, str) else ""
    return Problem(f"{field} = {_show(value)} is not allowed; allowed: {', '.join(allowed)}", path=path, hint=hint)


def unknown_field(path: str, field: str, tag: str) -> Problem:
    """A field that ``tag``'s statement (``""``: the spec itself) does not have, with the fields it has."""
    if _OPTIONS_PARENT.match(path):
        hint = did_you_mean(field, OPTION_NAMES) or "options: " + ", ".join(OPTION_NAMES)
        return Problem(f"unknown option {field!r}", path=path, hint=hint)
    fields = _FIELDS.get(tag, tuple(Spec.model_fields))
    what = {"edge": "an edge", "loop": "a loop"}.get(tag, "a spec")
    return Problem(f"unknown field {field!r} in {what}", path=path,
                   hint=did_you_mean(field, fields) or "fields: " + ", ".join(fields))


def _missing(path: str, field: str, tag: str) -> Problem:
    needs = {"edge": "an edge needs `src` and `dst`",
             "loop": "a loop needs `var`, and `start` and `stop` or `values`"}.get(tag, "")
    return Problem(f"missing field {field!r}", path=path, hint=needs)


def _point_hint(value) -> str:
    if not isinstance(value, str):
        return ""
    if PATH_RE.match(value) and not value.endswith((".in", ".out")):
        return f"a module path needs a port: did you mean '{value}.in' or '{value}.out'?"
    if value.startswith("@"):
        return "a stream point is @ and an integer, such as @3 or @-1 (or @{EXPR} inside a for loop)"
    return ""


def _noun(field: str) -> str:
    return {"train": "module path", "stream": "module pattern", "var": "loop variable", "template": "template name",
            "name": "name"}.get(field, field.replace("_", " "))


def _pattern_hint(field: str) -> str:
    if field in ("train", "stream"):
        return "write a module path such as encoder.layer.5.output.LayerNorm (`*` matches one segment)"
    return "names start with a letter or '_' and hold letters, digits and '_'"


def _show(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = str(value).lower()
    return text if len(text) <= 60 else text[:57] + "..."
