"""Size limits that keep every input, however hostile, quick to accept or reject.

The parser, the builder and pydantic cost some tens of microseconds per token, so a
spec is bounded in tokens (``.adapt`` text) or in bytes and nodes (YAML/JSON), and
blocks are bounded in depth (tree walks are recursive). The bounds are far above any
hand-written spec; loops and globs write many edges in a few tokens.
"""
from __future__ import annotations

import re

from ..errors import Problem, Span
from .spans import span_at_offset

MAX_TOKENS = 5_000
# Bytes read from a spec file at most (the read stops there: `/dev/zero` is a file too). Far above
# MAX_TOKENS of text with comments, and small enough that scanning it stays cheap.
MAX_FILE_BYTES = 1024 * 1024
MAX_WORD = 1000
MAX_DEPTH = 32
MAX_DATA_BYTES = 128 * 1024
MAX_DATA_NODES = 10_000

# Roughly the language's tokens: strings, comments (not counted), words, `->`, `..`, runs of
# separators (as the grammar's _SEP) and single symbols.
# (Possessive, as in the grammar: constant memory on a million newlines.)
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*+"|#[^\n]*|->|\.\.|[\n;](?:[ \t\r\f]*[\n;])*+|[^\s"#{}\[\],;=:]+|\S')
# A `{EXPR}` hole inside a path or after `@` (or a one-line block, which cannot nest further).
_HOLE = re.compile(r"\{[^{}\n]*\}")


def text_problem(text: str, file: str) -> Problem | None:
    """A problem if ``text`` has too many tokens or blocks nested too deeply; else None."""
    count, depth = 0, 0
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok[0] == "#":
            continue
        count += 1
        if len(tok) > MAX_WORD and tok[0] not in "\n;":
            return Problem(f"a word of {len(tok)} characters is too long (at most {MAX_WORD})",
                           span_at_offset(text, file, m.start()), hint="module paths, names and strings are short")
        if count > MAX_TOKENS:
            return Problem(f"the file is too large: more than {MAX_TOKENS} tokens (words and symbols)",
                           span_at_offset(text, file, m.start()),
                           hint="write repeated edges with a `for` loop or a `*` glob; a spec this size is "
                                "likely not a spec")
        if tok == "{" and not _HOLE.match(text, m.start()):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(f"blocks nest more than {MAX_DEPTH} deep", span_at_offset(text, file, m.start()),
                               hint="for loops may nest at most that deep; is a '}' missing?")
        elif tok == "}" and depth:
            depth -= 1
    return None


def printed_size_problem(adapt_text: str, file: str) -> Problem | None:
    """A problem if a spec read from YAML/JSON would be too large as ``.adapt`` text (so that
    every spec that loads in one format also loads, converted, in the others)."""
    count = sum(1 for m in _TOKEN.finditer(adapt_text) if m.group(0)[0] != "#")
    if count <= MAX_TOKENS:
        return None
    return Problem(f"the spec is too large: its .adapt form has {count} tokens (at most {MAX_TOKENS})",
                   Span(file, 1, 1), hint="write repeated edges with a loop (`var`, `start`, `stop`, `body`)")


def file_size_problem(size: int, file: str) -> Problem | None:
    """A problem if a spec file (or text) of ``size`` bytes is larger than ``MAX_FILE_BYTES``."""
    if size <= MAX_FILE_BYTES:
        return None
    return Problem(f"the file is too large: more than {MAX_FILE_BYTES} bytes (a spec is at most that)",
                   Span(file, 1, 1), hint="is it a spec file? write repeated edges with a `for` loop or a `*` glob")


def data_problem(text: str, file: str) -> Problem | None:
    """A problem if a YAML/JSON spec is larger than ``MAX_DATA_BYTES``; else None."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DATA_BYTES:
        return Problem(f"the file is too large: {size} bytes (a spec in YAML/JSON is at most {MAX_DATA_BYTES})",
                       Span(file, 1, 1), hint="write repeated edges with a loop (`var`, `start`, `stop`, `body`)")
    return None


def shape_problem(data, file: str) -> Problem | None:
    """A problem if YAML/JSON data holds too many values (aliases counted at each use) or nests
    too deeply; else None. Iterative, so that it is safe on any input."""
    stack, count = [(data, 0)], 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_DATA_NODES:
            return Problem(f"the file is too large: more than {MAX_DATA_NODES} values", Span(file, 1, 1),
                           hint="write repeated edges with a loop (`var`, `start`, `stop`, `body`)")
        if depth > 2 * MAX_DEPTH + 4:  # each loop level is a mapping and its `body` list
            return Problem(f"values nest too deeply (loops nest at most {MAX_DEPTH} deep)", Span(file, 1, 1))
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return None
