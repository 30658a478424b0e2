"""Comments in the YAML form: read from a ``.adapt.yaml`` file, written into one.

Reading finds every ``#`` comment outside quoted and plain scalars (from PyYAML's own token
positions) and attaches it by line, as in ``.adapt`` files, to the same field paths
(``edges[1]``, ``defaults.rank``). Writing puts each comment on its own line: above the
field it annotates, or below it for the comments that closed a block. JSON has no comments.
"""
from __future__ import annotations

import bisect
from collections import defaultdict

import yaml

from .comments import END, HEAD, Anchor, Comment, Comments, attach_to_anchors
from .data_syntax import compose_yaml
from .formats import from_data_text
from .models import Spec


def from_data_text_with_comments(text: str, file: str) -> tuple[Spec, Comments]:
    """A ``.adapt.yaml`` text's spec and comments."""
    spec = from_data_text(text, file, "yaml")  # validates first: the text below is valid YAML
    if "#" not in text:
        return spec, Comments()
    anchors, lines = yaml_anchors(compose_yaml(text)), text.split("\n")
    by_end = defaultdict(list)  # anchors by their last line: looked up once per comment
    for a in _flatten(anchors).values():
        by_end[a.end[0]].append(a)
    code = [i for i in range(1, len(lines) + 1) if lines[i - 1].strip() and not lines[i - 1].lstrip().startswith("#")]
    ends, rest = [], []
    for comment, col in _yaml_comments(text):
        block = _closed_block(comment.line, col, lines, code, by_end)
        (ends if block else rest).append((block, comment, col))
    comments = attach_to_anchors([(c, col) for _, c, col in rest], anchors, lines, code[0] if code else None)
    for block, comment, _ in ends:
        comments.add(block, "end", comment)
    return spec, comments


def _closed_block(line: int, col: int, lines: list[str], code: list[int], by_end: dict) -> str | None:
    """YAML has no '}': a comment on its own line, right after an element's last line, indented
    deeper than the element and than the code that follows, closes that element's block."""
    if lines[line - 1][: col - 1].strip():
        return None
    at = bisect.bisect_left(code, line)  # code lines around it
    previous, following = (code[at - 1] if at else None), (code[at] if at < len(code) else None)
    if previous is None or (following is not None and _indent(lines[following - 1]) + 1 >= col):
        return None
    inside = [a for a in by_end.get(previous, []) if a.start[1] < col]
    return max(inside, key=lambda a: a.depth).key if inside else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _yaml_comments(text: str) -> list[tuple[Comment, int]]:
    """``#`` that starts a line or follows a space, outside every scalar: a comment."""
    scalars = [(t.start_mark.index, t.end_mark.index) for t in yaml.scan(text, Loader=yaml.SafeLoader)
               if isinstance(t, yaml.ScalarToken)]  # in text order, never overlapping
    starts = [a for a, _ in scalars]
    lines, found, offset = text.split("\n"), [], 0
    for number, line in enumerate(lines, 1):
        col = _comment_column(line, offset, scalars, starts)
        if col is not None:
            blank_after = number < len(lines) - 1 and not lines[number].strip()
            found.append((Comment(line[col:].rstrip(), number, blank_after), col + 1))
        offset += len(line) + 1
    return found


def _comment_column(line: str, offset: int, scalars: list[tuple[int, int]], starts: list[int]) -> int | None:
    col = line.find("#")
    while col >= 0:
        at, i = offset + col, bisect.bisect_right(starts, offset + col) - 1
        if (col == 0 or line[col - 1] in " \t") and not (i >= 0 and at < scalars[i][1]):
            return col
        col = line.find("#", col + 1)
    return None


def yaml_anchors(root) -> list[Anchor]:
    """The elements of a spec's YAML tree that comments attach to, keyed like the source map."""
    if not isinstance(root, yaml.MappingNode):
        return []
    out = []
    for k, v in root.value:
        key = str(k.value)
        if key == "templates" and isinstance(v, yaml.MappingNode):
            out += [_entry(tk, tv, f"templates.{tk.value}", 0, _options(tv, f"templates.{tk.value}", 1))
                    for tk, tv in v.value]
        elif key == "edges" and isinstance(v, yaml.SequenceNode):
            out += _items(v, "edges", 0)
        else:
            out.append(_entry(k, v, key, 0, _options(v, key, 1) if key == "defaults" else []))
    return out


def _items(seq, prefix: str, depth: int) -> list[Anchor]:
    out = []
    for i, item in enumerate(seq.value):
        key, children = f"{prefix}[{i}]", []
        if isinstance(item, yaml.MappingNode):
            for k, v in item.value:
                if k.value == "options":
                    children += _options(v, f"{key}.options", depth + 1)
                elif k.value == "body" and isinstance(v, yaml.SequenceNode):
                    children += _items(v, f"{key}.body", depth + 1)
        out.append(Anchor(key, _start(item), _end(item), depth, sorted(children, key=lambda a: a.start)))
    return out


def _options(node, prefix: str, depth: int) -> list[Anchor]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [_entry(k, v, f"{prefix}.{k.value}", depth) for k, v in node.value]


def _entry(k, v, key: str, depth: int, children=()) -> Anchor:
    return Anchor(key, _start(k), max(_end(k), _end(v)), depth, list(children))


def _start(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _end(node) -> tuple[int, int]:
    """Where its last character is: a block collection's own end mark is where the next value starts."""
    parts = ([x for pair in node.value for x in pair] if isinstance(node, yaml.MappingNode)
             else node.value if isinstance(node, yaml.SequenceNode) else [])
    if parts:
        return max(_end(p) for p in parts)
    return node.end_mark.line + 1, node.end_mark.column + 1


def with_yaml_comments(text: str, comments: Comments) -> str:
    """Dumped YAML ``text`` with each comment on its own line, above (or for a block's end, below)
    its element; a comment whose element is not written (an empty ``defaults``) goes to the end."""
    if not comments:
        return text
    if text.strip() == "{}":  # an empty spec: its comments above the `{}`
        return "".join(c.text + "\n" for c in sorted(_every(comments), key=lambda c: c.line)) + text
    flat = _flatten(yaml_anchors(yaml.compose(text, Loader=yaml.SafeLoader)))
    lines = text.rstrip("\n").split("\n")
    above, below = defaultdict(list), defaultdict(list)
    for key, notes in comments.items():
        anchor = _placed(key, flat)
        if key == HEAD:
            above[1] += notes.all()
        elif anchor is None:
            below[len(lines)] += [("", c) for c in notes.all()]
        else:
            above[anchor.start[0]] += notes.before + notes.after + notes.open
            below[anchor.end[0]] += [(" " * (anchor.start[1] + 1), c) for c in notes.end]  # inside its block
    out = []
    for number, line in enumerate(lines, 1):
        indent = line[: _indent(line)]
        out += [indent + c.text for c in sorted(above[number], key=lambda c: c.line)]
        out.append(line)
        out += [pad + c.text for pad, c in sorted(below[number], key=lambda pc: pc[1].line)]
    return "\n".join(out) + "\n"


def _every(comments: Comments) -> list[Comment]:
    return [c for notes in comments.values() for c in notes.all()]


def _flatten(anchors: list[Anchor]) -> dict[str, Anchor]:
    out = {}
    for a in anchors:
        out[a.key] = a
        out.update(_flatten(a.children))
    return out


def _placed(key: str, flat: dict[str, Anchor]) -> Anchor | None:
    """The element written for ``key``, or its nearest written parent."""
    while key and key not in (HEAD, END):
        if key in flat:
            return flat[key]
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > 0 else ""
    return None
