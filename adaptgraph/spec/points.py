"""Point references as text (``@3``, ``blocks.0.attn.in``, ``%add_2``) and their parsed form."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .edge_facts import stream_name

_EXPR = r"\{[^{}]*\}"
_SEGMENT = rf"(?:(?:[A-Za-z0-9_]|{_EXPR})+|\*\*?)"  # a name, a `{EXPR}` hole, `*` or `**`
PORT_RE = re.compile(rf"^(?P<path>{_SEGMENT}(?:\.{_SEGMENT})*)\.(?P<port>in|out)$")
STREAM_RE = re.compile(rf"^@(?P<index>-?[0-9]+|{_EXPR})$")
NODE_RE = re.compile(r"^%(?P<node>[A-Za-z_][A-Za-z0-9_.]*)$")
PATH_RE = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")
# A module path or pattern after loop expansion (`train`, `stream`): no `{EXPR}` holes.
MODULE_PATTERN_RE = re.compile(r"^(?:[A-Za-z0-9_]+|\*\*?)(?:\.(?:[A-Za-z0-9_]+|\*\*?))*$")

POINT_FORMS = "PATH.in, PATH.out, @K (a stream index) or %NODE (a graph node name)"


@dataclass(frozen=True)
class PointRef:
    """A parsed point. ``kind`` says which of the other fields matter."""

    kind: Literal["port", "stream", "node"]
    path: str = ""  # port: module path, may hold ``*`` and ``**``
    port: str = ""  # port: "in" or "out"
    index: int = 0  # stream: K (negative counts from the end)
    node: str = ""  # node: graph node name

    def __str__(self) -> str:
        if self.kind == "stream":
            return stream_name(self.index)
        if self.kind == "node":
            return f"%{self.node}"
        return f"{self.path}.{self.port}"


def check_point_text(text: str, allow_expr: bool = False) -> None:
    """Raise ``ValueError`` if ``text`` is not a point (``{EXPR}`` holes allowed when ``allow_expr``)."""
    if not isinstance(text, str) or not (PORT_RE.match(text) or STREAM_RE.match(text) or NODE_RE.match(text)):
        raise ValueError(f"{text!r} is not a point; a point is {POINT_FORMS}")
    if not allow_expr and "{" in text:
        raise ValueError(f"{text!r} still holds a {{...}} expression; expressions only work inside a for loop")


_HOLE = re.compile(_EXPR)
_SPACE = re.compile(r"\s+")
_LOOSE_SPACE = re.compile(r"(?<!\w) | (?!\w)")


def without_hole_spaces(text: str) -> str:
    """``@{i + 1}`` -> ``@{i+1}``: spacing inside expressions does not change the spec, so it is dropped
    (except between two words or numbers, where it is kept so that ``{1 2}`` stays an error)."""
    if "{" not in text:
        return text
    return _HOLE.sub(lambda m: _LOOSE_SPACE.sub("", _SPACE.sub(" ", m.group(0))), text)


def parse_point(text: str) -> PointRef:
    """Parse a point without expressions (after loop expansion)."""
    check_point_text(text)
    if m := STREAM_RE.match(text):
        return PointRef("stream", index=int(m["index"]))
    if m := NODE_RE.match(text):
        return PointRef("node", node=m["node"])
    m = PORT_RE.match(text)
    return PointRef("port", path=m["path"], port=m["port"])
