"""Comments of a spec file, attached by line to the statements and options they annotate.

A ``Spec`` is what the file means, so comments live beside it: ``Comments`` maps a field
path (``edges[2]``, ``defaults.rank``, ``edges[0].body[1].options.act``, the same paths
as the source map) to the comments around that element. The formatter and ``convert``
carry them; the spec, its equality and its content hash never see them.

Attachment, as gofmt and black do it: a comment on its own line(s) goes with the next
statement (or option) of the same block, or with the block's end if none follows; a
comment after code goes with the element that ends on that line, or with the block that
opens there (``for i in 0..3 {  # ...``). Comments before the first statement are the file's
head (printed first, whatever the canonical order puts first); comments after the last one, its end.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from lark import Token, Tree

HEAD, END = "^", "$"  # the file's head and end, beside the field paths


@dataclass(frozen=True)
class Comment:
    text: str  # from '#' to the end of the line, trailing spaces dropped
    line: int  # where it stood in the source: the order of comments merged at one element
    blank_after: bool = False  # a blank line followed it: kept, so that paragraphs stay apart


@dataclass
class Notes:
    """The comments of one element."""

    before: list[Comment] = field(default_factory=list)  # own lines, just before it
    after: list[Comment] = field(default_factory=list)  # after the code of its last line
    open: list[Comment] = field(default_factory=list)  # after the '{' that opens its block
    end: list[Comment] = field(default_factory=list)  # own lines before the block's '}'

    def all(self) -> list[Comment]:
        return sorted(self.before + self.after + self.open + self.end, key=lambda c: c.line)

    def inline(self) -> bool:
        """Whether its block must be printed over several lines to hold these comments."""
        return bool(self.open or self.end)


class Comments(dict):
    """Field path -> ``Notes``; ``HEAD`` and ``END`` hold the file's head and end."""

    def notes(self, key: str) -> Notes:
        return self.get(key) or Notes()

    def add(self, key: str, where: str, comment: Comment) -> None:
        getattr(self.setdefault(key, Notes()), where).append(comment)

    def texts(self) -> list[str]:
        return [c.text for notes in self.values() for c in notes.all()]

    def count(self) -> int:
        return len(self.texts())

    def under(self, key: str) -> list[Comment]:
        """Every comment of ``key`` and of the elements inside it, in source order."""
        return sorted((c for k, notes in self.items() if k == key or k.startswith((key + ".", key + "["))
                       for c in notes.all()), key=lambda c: c.line)


@dataclass
class Anchor:
    """An element comments attach to: a statement or an option, with where it starts and ends."""

    key: str
    start: tuple[int, int]
    end: tuple[int, int]
    depth: int
    children: list["Anchor"] = field(default_factory=list)


def attach(tokens: list[Token], tree: Tree, text: str) -> Comments:
    """The comment tokens of a parsed ``.adapt`` text attached to the elements of its tree."""
    lines = text.split("\n")
    found = [(Comment(str(t).rstrip(), t.line, _blank_after(lines, t.line)), t.column) for t in tokens]
    return attach_to_anchors(found, _anchors(tree), lines)


_BLANK = re.compile(r"^[ \t\r\f]*$")


def _blank_after(lines: list[str], line: int) -> bool:
    return line < len(lines) - 1 and bool(_BLANK.match(lines[line]))  # the last "line" follows the last '\n'


def attach_to_anchors(found: list[tuple[Comment, int]], top: list[Anchor], lines: list[str],
                      first_code: int | None = None) -> Comments:
    """Comments (with their 1-based columns) attached to anchors by line; shared with the YAML form,
    where the first line of code (``first_code``) may hold no anchor (``templates:``).

    Indexed by line, so that a file of many statements and many comments attaches in n log n."""
    out, by_end, by_start = Comments(), defaultdict(list), defaultdict(list)
    for a in _walk(top):
        by_end[a.end[0]].append(a)
        by_start[a.start[0]].append(a)
    first = first_code or (top[0].start[0] if top else None)
    for comment, col in sorted(found, key=lambda f: (f[0].line, f[1])):
        line = comment.line
        if lines[line - 1][: col - 1].strip():  # code before it on its line
            key, where = _trailing(by_end[line], by_start[line], line)
            if key is not None:
                out.add(key, where, comment)
                continue
        if first is None or line < first:
            out.add(HEAD, "before", comment)
            continue
        container, siblings = _container(top, line)
        nxt = _next_index(siblings, line)
        if nxt < len(siblings):
            out.add(siblings[nxt].key, "before", comment)
        else:
            out.add(container.key if container else END, "end" if container else "before", comment)
    return out


def _walk(anchors: list[Anchor]):
    for a in anchors:
        yield a
        yield from _walk(a.children)


def _trailing(ending: list[Anchor], starting: list[Anchor], line: int) -> tuple[str | None, str]:
    if ending:  # the element whose code ends last on this line; the outermost of equals
        return max(ending, key=lambda a: (a.end[1], -a.depth)).key, "after"
    opening = [a for a in starting if a.end[0] > line]
    if opening:  # a block opens here: the innermost one
        return max(opening, key=lambda a: a.depth).key, "open"
    return None, ""


def _next_index(siblings: list[Anchor], line: int) -> int:
    """Index of the first sibling starting after ``line`` (siblings are in source order)."""
    lo, hi = 0, len(siblings)
    while lo < hi:
        mid = (lo + hi) // 2
        if siblings[mid].start[0] <= line:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _container(top: list[Anchor], line: int) -> tuple[Anchor | None, list[Anchor]]:
    """The innermost element whose block holds ``line``, and the elements inside it (or the top level)."""
    container, siblings = None, top
    while True:
        i = _next_index(siblings, line - 1) - 1  # the last one starting before the line
        if i < 0 or not siblings[i].start[0] < line < siblings[i].end[0]:
            return container, siblings
        container, siblings = siblings[i], siblings[i].children


# -- anchors of a parsed .adapt tree ---------------------------------------------------

_HEADER_KEYS = {"spec_stmt": "name", "backbone_stmt": "backbone", "stream_stmt": "stream",
                "passes_stmt": "passes", "train_stmt": "train"}


def _anchors(tree: Tree) -> list[Anchor]:
    return _statements(tree.children, "edges[{}]", 0)


def _statements(nodes, edge_key: str, depth: int) -> list[Anchor]:
    out, n = [], 0
    for node in nodes:
        if not isinstance(node, Tree):
            continue
        kind = node.data
        if kind in _HEADER_KEYS:
            out.append(_anchor(node, _HEADER_KEYS[kind], depth))
        elif kind == "defaults_stmt":
            out.append(_anchor(node, "defaults", depth, _options(node, "defaults", depth)))
        elif kind == "adapter_stmt":
            key = f"templates.{node.children[0]}"
            out.append(_anchor(node, key, depth, _options(node, key, depth)))
        elif kind in ("edge_stmt", "sugar_stmt"):
            key = edge_key.format(n)
            out.append(_anchor(node, key, depth, _options(node.children[-1], key + ".options", depth)))
            n += 1
        elif kind == "for_stmt":
            key = edge_key.format(n)
            body = _statements(node.children[-1].children, key + ".body[{}]", depth + 1)
            out.append(_anchor(node, key, depth, body))
            n += 1
    return out


def _anchor(node: Tree, key: str, depth: int, children=()) -> Anchor:
    m = node.meta
    return Anchor(key, (m.line, m.column), (m.end_line, m.end_column), depth, list(children))


def _options(node: Tree, key: str, depth: int) -> list[Anchor]:
    block = next((c for c in node.children if isinstance(c, Tree) and c.data == "options"), None)
    if block is None:
        return []
    return [_anchor(opt, f"{key}.{opt.children[0]}", depth + 1)
            for opt in block.children if isinstance(opt, Tree) and opt.data == "option"]
