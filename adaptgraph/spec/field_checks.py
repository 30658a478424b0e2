"""Field rules (pydantic's), one part of the document at a time.

Each top-level field, each template and each statement is validated on its own: a part
that passes is kept, one that fails is reported and left out, so the whole-spec checks
(``validate.semantic_problems``) still run on every part that passed, and one run
reports every problem of a file. Statements left out shift the indices of those after
them; ``original_path`` maps a path among the kept statements back to the one written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated

from pydantic import TypeAdapter, ValidationError

from ..errors import Problem
from .models import Edge, Loop, Options, Spec, statement_tag
from .pydantic_errors import describe, unknown_field

_STATEMENT_PATH = re.compile(r"^edges\[\d+\](?:\.body\[\d+\])*")


@cache
def _field_adapter(name: str) -> TypeAdapter:
    """The validator of one of ``Spec``'s fields, with its constraints."""
    info = Spec.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, info])


@cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


@dataclass
class CheckedFields:
    """The fields that passed, the problems of those that did not, and every template name written
    (a template with invalid options is still defined: its problems are reported at it, not at its uses)."""

    values: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)

    def original_path(self, path: str) -> str:
        m = _STATEMENT_PATH.match(path)
        return self.origins.get(m.group(0), m.group(0)) + path[m.end():] if m else path

    def check(self, adapter: TypeAdapter, value, loc: tuple) -> tuple[bool, object]:
        """Whether ``value`` passes ``adapter``, and its validated form; its problems are kept, at ``loc``."""
        try:
            return True, adapter.validate_python(value)
        except ValidationError as e:
            self.problems += describe(e, loc)
            return False, None


def check_fields(doc: dict) -> CheckedFields:
    """Validate ``doc`` (a spec's fields as data) part by part."""
    out = CheckedFields()
    for name in Spec.model_fields:
        if name not in doc:
            continue
        value = doc[name]
        if name == "edges" and isinstance(value, (list, tuple)):
            kept, out.origins = _statements(out, value, ("edges",), "edges", "edges")
            out.values[name] = kept
        elif name == "templates" and isinstance(value, dict):
            out.values[name] = _templates(out, value)
        else:
            ok, valid = out.check(_field_adapter(name), value, (name,))
            if ok:
                out.values[name] = valid
    for key in doc:
        if key not in Spec.model_fields:
            out.problems.append(unknown_field(str(key), str(key), ""))
    return out


def _templates(out: CheckedFields, templates: dict) -> dict:
    kept = {}
    out.templates = [str(k) for k in templates]
    for name, options in templates.items():
        ok, valid = out.check(_field_adapter("templates"), {name: options}, ("templates",))
        if ok:
            kept.update(valid)
    return kept


def _statements(out: CheckedFields, items, loc: tuple, path: str, written: str) -> tuple[tuple, dict[str, str]]:
    """The statements that passed, and each one's path among them -> its path as written."""
    kept, origins = [], {}
    for i, st in enumerate(items):
        here = f"{path}[{len(kept)}]"
        valid, inner = _statement(out, st, (*loc, i), here, f"{written}[{i}]")
        if valid is not None:
            kept.append(valid)
            origins[here] = f"{written}[{i}]"
            origins.update(inner)
    return tuple(kept), origins


def _statement(out: CheckedFields, st, loc: tuple, here: str, written: str):
    """One statement (a loop's body statement by statement, an edge's options on their own)."""
    if isinstance(st, (Edge, Loop)):  # built from Python, validated already
        return st, {}
    tag = statement_tag(st)
    loc, inner = (*loc, tag), {}
    kind = Loop if tag == "loop" else Edge
    if tag == "loop" and isinstance(st.get("body"), (list, tuple)):
        body, inner = _statements(out, st["body"], (*loc, "body"), f"{here}.body", f"{written}.body")
        st = {**st, "body": body}
    elif tag == "edge" and isinstance(st, dict) and "options" in st:
        ok, options = out.check(_adapter(Options), st["options"], (*loc, "options"))
        st = {**st, "options": options} if ok else {k: v for k, v in st.items() if k != "options"}
    ok, valid = out.check(_adapter(kind), st, loc)
    return (valid, inner) if ok else (None, {})
