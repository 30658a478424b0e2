"""Reading the YAML/JSON form: values as written, every key once, and where each value stands.

YAML is read with a YAML 1.2 core-schema resolver. PyYAML resolves YAML 1.1, where
``1:30`` is the integer 90, ``yes``/``on`` are true, ``010`` is 8 and ``2024-01-02``
a date: a spec meant one thing and silently said another. Here only ``true``/``false``
are booleans and only plain decimal (``0o``/``0x``) numbers are numbers; anything
else stays text, and validation then says it is the wrong type.

A key given twice in one mapping is an error in both formats (YAML and ``json.loads``
keep the last one without a word). JSON positions come from a small scanner over the
(already valid) JSON text, so every JSON error has ``file:line:col`` even where
YAML cannot read the file.
"""
from __future__ import annotations

import json
import re

import yaml

from ..errors import Problem
from .spans import span_at_offset

# --- YAML -----------------------------------------------------------------------------------
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CORE = [
    ("tag:yaml.org,2002:bool", re.compile(r"true|True|TRUE|false|False|FALSE"), "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", re.compile(r"~|null|Null|NULL|"), ["~", "n", "N", ""]),
]


class CoreResolver(yaml.resolver.Resolver):
    """The YAML 1.2 core schema's implicit types (no sexagesimals, yes/no/on/off, octal 010, dates)."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in _CORE:
    CoreResolver.add_implicit_resolver(_tag, re.compile(rf"^(?:{_regexp.pattern})$"), list(_first))

_CParser = getattr(getattr(yaml, "cyaml", None), "CParser", None)
if _CParser is not None:  # libyaml's parser when present: much faster
    class CoreLoader(_CParser, yaml.constructor.SafeConstructor, CoreResolver):
        """Safe loading with the core resolver."""

        def __init__(self, stream):
            _CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            CoreResolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    class CoreLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                     yaml.constructor.SafeConstructor, CoreResolver):
        """Safe loading with the core resolver."""

        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            CoreResolver.__init__(self)


def bounded_int(text: str) -> int:
    """Absurdly long integers are clamped (as in .adapt text): bounds checks then reject them."""
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-")
    if len(digits) > 1000:
        return int(sign + "9" * 1000)
    base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
    return int(sign + (digits[2:] if base != 10 else digits), base)


def _construct_int(loader, node) -> int:
    return bounded_int(loader.construct_scalar(node))


CoreLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def compose_yaml(text: str):
    """The composed node tree (values typed by the core schema), or None for an empty document.

    Aliases (``*name``) are refused: composing shares the aliased node, but every walk over the
    tree (positions, repeated keys, validation) visits it once per use, so ten aliases of ten
    aliases, eight deep, made a 1 KB file walk 10^8 values (12 GB). A spec has no need of them."""
    for event in yaml.parse(text, Loader=CoreLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, f"'*{event.anchor}' repeats another value (a YAML alias), which a spec does not "
                            "accept; write the value out where it is needed", event.start_mark)
    return yaml.compose(text, Loader=CoreLoader)


def construct_yaml(node):
    return CoreLoader("").construct_document(node) if node is not None else None


def yaml_duplicates(node, file: str, text: str) -> list[Problem]:
    """A problem for every key that a mapping of ``node`` holds twice (iterative: any depth)."""
    out, stack = [], [(node, "")]
    while stack:
        n, path = stack.pop()
        if isinstance(n, yaml.MappingNode):
            first: dict = {}
            for k, v in n.value:
                key = (k.tag, str(k.value))
                child = f"{path}.{k.value}" if path else str(k.value)
                if key in first:
                    out.append(_duplicate(child, first[key] + 1, file, text, _offset(text, k.start_mark)))
                else:
                    first[key] = k.start_mark.line
                stack.append((v, child))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(n.value))
    return sorted(out, key=lambda p: (p.span.line, p.span.col))


def _offset(text: str, mark) -> int:
    """The character offset of a YAML mark (from its line and column: libyaml's index counts bytes)."""
    start = 0
    for _ in range(mark.line):
        start = text.index("\n", start) + 1
    return min(start + mark.column, len(text))


def _duplicate(path: str, first_line: int, file: str, text: str, offset: int, quotes: int = 0) -> Problem:
    key = path.rsplit(".", 1)[-1]
    return Problem(f"key '{key}' is given twice in one mapping (first at line {first_line})",
                   span_at_offset(text, file, offset, len(key) + quotes), path,
                   hint="keep one of them: a reader would silently use only the last")


# --- JSON -----------------------------------------------------------------------------------
_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|NaN|-?Infinity")


def json_positions(text: str) -> tuple[dict[str, tuple[int, int]], list[tuple[str, int, int]]]:
    """For JSON text that ``json.loads`` accepted: field path -> (start, end) offsets of its value,
    and every repeated key as (path, offset, offset of the first). Iterative: any depth."""
    spans: dict[str, tuple[int, int]] = {}
    repeated: list[tuple[str, int, int]] = []
    stack: list[list] = []  # [bracket, path, count, {key: offset}]
    i, path, want_value = _WS.match(text, 0).end(), "", True
    while True:
        if want_value:
            c = text[i]
            if c in "[{":
                spans[path] = (i, i + 1)
                i = _WS.match(text, i + 1).end()
                if text[i] not in "]}":
                    stack.append([c, path, 0, {}])
                    path, i = _first_child(text, i, stack[-1], repeated)
                    continue
                i = _WS.match(text, i + 1).end()
            else:
                end = json.decoder.scanstring(text, i + 1)[1] if c == '"' else _SCALAR.match(text, i).end()
                spans[path] = (i, end)
                i = _WS.match(text, end).end()
            want_value = False
        if not stack:
            return spans, repeated
        frame = stack[-1]
        if text[i] == ",":
            frame[2] += 1
            path, i = _first_child(text, _WS.match(text, i + 1).end(), frame, repeated)
            want_value = True
        else:
            stack.pop()
            i = _WS.match(text, i + 1).end()


def _first_child(text: str, i: int, frame: list, repeated: list) -> tuple[str, int]:
    """The path of the next child of ``frame`` and where its value starts (reading the key of an object)."""
    bracket, parent, count, keys = frame
    if bracket == "[":
        return f"{parent}[{count}]", i
    key, end = json.decoder.scanstring(text, i + 1)
    path = f"{parent}.{key}" if parent else key
    if key in keys:
        repeated.append((path, i, keys[key]))
    else:
        keys[key] = i
    colon = _WS.match(text, end).end()
    return path, _WS.match(text, colon + 1).end()


def json_duplicates(repeated, file: str, text: str) -> list[Problem]:
    return [_duplicate(path, text.count("\n", 0, first) + 1, file, text, offset, quotes=2)
            for path, offset, first in repeated]
