"""Lark tree -> plain statement records that keep their source positions.

One small method per grammar rule. The records are dictionaries shaped like the
``Spec`` fields, plus a ``spans`` mapping from field name to ``Span``; the
builder (``build.py``) assembles them into a document and a source map.
"""
from __future__ import annotations

import re

from lark import Token, Transformer, v_args

from ..errors import Span

_INT = re.compile(r"^[-+]?[0-9]+$")


class Stmt(dict):
    """A statement record: its fields, its kind tag and the spans of its parts."""

    def __init__(self, tag: str, span: Span, spans: dict | None = None, **fields):
        super().__init__(fields)
        self.tag, self.span, self.spans = tag, span, spans or {}


@v_args(meta=True)
class ToRecords(Transformer):
    __visit_tokens__ = False  # tokens need no callbacks; skipping them makes the walk faster
    def __init__(self, text: str, file: str):
        super().__init__()
        self.lines, self.file = text.split("\n"), file

    # -- helpers ---------------------------------------------------------------
    def _span(self, item) -> Span:
        line, col = item.line, item.column
        end = getattr(item, "end_column", col + 1) if getattr(item, "end_line", line) == line else col + 1
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Span(self.file, line, col, text, max(1, (end or col + 1) - col))

    # -- top level -------------------------------------------------------------
    def start(self, meta, items):
        return list(items)

    def block(self, meta, items):
        return list(items)

    def spec_stmt(self, meta, items):
        return Stmt("spec", self._span(meta), {"name": self._span(items[0])}, name=str(items[0]))

    def backbone_stmt(self, meta, items):
        return Stmt("backbone", self._span(meta), {"backbone": self._span(items[0])}, backbone=_string(items[0]))

    def defaults_stmt(self, meta, items):
        return Stmt("defaults", self._span(meta), options=items[0])

    def adapter_stmt(self, meta, items):
        return Stmt("adapter", self._span(meta), {"name": self._span(items[0])}, name=str(items[0]), options=items[1])

    def stream_stmt(self, meta, items):
        tok = items[0]
        value = _string(tok) if tok.type == "STRING" else str(tok)
        return Stmt("stream", self._span(meta), {"stream": self._span(tok)}, stream=value)

    def passes_stmt(self, meta, items):
        return Stmt("passes", self._span(meta), {"passes": self._span(items[0])}, passes=_int(items[0]))

    def train_stmt(self, meta, items):
        return Stmt("train", self._span(meta), {"paths": [self._span(t) for t in items]},
                    paths=[str(t) for t in items])

    # -- edges -------------------------------------------------------------------
    def kind(self, meta, items):
        return items[0]

    def point(self, meta, items):
        return items[0]

    def edge_stmt(self, meta, items):
        kind, src, _arrow, dst, tail = items
        spans = {"kind": self._span(kind), "src": self._span(src), "dst": self._span(dst), **_own(tail.spans)}
        return Stmt("edge", self._span(meta), spans, kind=str(kind), src=str(src), dst=str(dst), **tail)

    def sugar_stmt(self, meta, items):
        kind, path, tail = items
        ports = ("in", "out") if str(kind) == "parallel" else ("out", "out")
        sp = self._span(path)
        spans = {"kind": self._span(kind), "src": sp, "dst": sp, **_own(tail.spans)}
        out = Stmt("edge", self._span(meta), spans, kind=str(kind), src=f"{path}.{ports[0]}",
                   dst=f"{path}.{ports[1]}", **tail)
        out.sugar_module = str(path)  # the builder checks that it names a module, not a point
        return out

    def edge_tail(self, meta, items):
        out = Stmt("tail", None)
        for item in items:
            key, value, span = ("options", item, item.span) if isinstance(item, Stmt) else item
            out[key] = value
            out.spans[key] = span
        return out

    def alias(self, meta, items):
        return ("name", str(items[0]), self._span(items[0]))

    def template(self, meta, items):
        return ("template", str(items[0]), self._span(items[0]))

    # -- loops -------------------------------------------------------------------
    def for_stmt(self, meta, items):
        var, rng, body = items
        return Stmt("for", self._span(meta), {"var": self._span(var), "range": rng.span},
                    var=str(var), body=body, **rng)

    def span_range(self, meta, items):
        return Stmt("range", self._span(meta), start=_int(items[0]), stop=_int(items[-1]))

    def list_range(self, meta, items):
        return Stmt("range", self._span(meta), values=[_int(t) for t in items])

    # -- options -----------------------------------------------------------------
    def options(self, meta, items):
        out = Stmt("options", self._span(meta))
        for name, value, name_span, value_span in items:
            if name in out:
                out.spans.setdefault("duplicates", []).append((name, name_span))
                continue
            out[name] = value
            out.spans[name] = _joined(name_span, value_span)
        return out

    def option(self, meta, items):
        name, value = items
        return str(name), value[0], self._span(name), value[1]

    def value(self, meta, items):
        tok: Token = items[0]
        if tok.type == "STRING":
            v = _string(tok)
        elif tok.type == "NUMBER":
            v = _int(tok) if _INT.match(tok) else float(tok)
        else:
            v = {"true": True, "false": False}.get(str(tok), str(tok))
        return v, self._span(tok)


def _own(spans: dict) -> dict:
    """Tail spans minus the options block, whose spans the builder records per option."""
    return {k: v for k, v in spans.items() if k != "options"}


def _string(tok) -> str:
    return re.sub(r"\\(.)", r"\1", str(tok)[1:-1])


def _joined(first: Span, last: Span) -> Span:
    """One span from the start of ``first`` to the end of ``last`` (``rank = 0``), when on one line."""
    if first.line != last.line:
        return first
    return Span(first.file, first.line, first.col, first.text, last.col + last.width - first.col)


_MAX_DIGITS = 1000


def _int(tok) -> int:
    text = str(tok)
    if len(text.lstrip("+-")) > _MAX_DIGITS:  # keep absurd literals cheap; bounds checks reject them later
        return int(("-" if text[0] == "-" else "") + "9" * _MAX_DIGITS)
    return int(text)
