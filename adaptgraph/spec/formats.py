"""The YAML/JSON form of a spec: the validated model dumped as data.

Both load through the same ``Spec`` model as ``.adapt`` text. YAML is read with a YAML 1.2
core-schema loader and JSON with the json module, each refusing a key given twice
(``data_syntax``); positions come from YAML's node tree or a scan of the JSON text, so
that validation errors still point at ``file:line:col``.
"""
from __future__ import annotations

import bisect
import json

import yaml

from ..errors import Problem, Span, SpecError, SpecSyntaxError
from .build import SourceMap, validate_doc
from .data_syntax import (CoreResolver, bounded_int, compose_yaml, construct_yaml, json_duplicates,
                          json_positions, yaml_duplicates)
from .limits import data_problem, printed_size_problem, shape_problem
from .models import Spec
from .printer import dumps as dumps_adapt


def to_data(spec: Spec, expand: bool = False) -> dict:
    if expand:
        spec = spec.model_copy(update={"edges": spec.expanded()})
    return spec.model_dump(mode="json", exclude_defaults=True)


class _Dumper(yaml.SafeDumper):
    """PyYAML's dumper quotes text that YAML 1.1 would read as another type; the loader reads the
    1.2 core schema (``09`` is an integer there): quote text that either would misread."""

    _core = CoreResolver()

    def resolve(self, kind, value, implicit):
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and tag == "tag:yaml.org,2002:str":
            return self._core.resolve(kind, value, implicit)
        return tag


def to_data_text(spec: Spec, fmt: str, expand: bool = False) -> str:
    data = to_data(spec, expand)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    raise SpecError(f"unknown format {fmt!r}; formats: adapt, yaml, json")


def from_data_text(text: str, file: str, fmt: str) -> Spec:
    """Parse and validate the YAML/JSON form; errors point at ``file:line:col``."""
    lines = text.split("\n")
    too_big = data_problem(text, file)
    if too_big is not None:
        raise SpecSyntaxError(problems=[too_big])
    data, smap = _read_json(text, file) if fmt == "json" else _read_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError(problems=[_not_a_mapping(data, file, lines, fmt)])
    problem = shape_problem(data, file)  # before anything walks the data recursively
    if problem is not None:
        raise SpecSyntaxError(problems=[problem])
    spec = from_data(data, file, smap)
    too_big = printed_size_problem(dumps_adapt(spec), file)  # every format reads every spec back
    if too_big is not None:
        raise SpecError(problems=[too_big])
    return spec


def _read_yaml(text: str, file: str) -> tuple[object, SourceMap]:
    """The data (YAML 1.2 core types, see ``data_syntax``) and where each value stands."""
    try:
        node = compose_yaml(text)
        duplicates = yaml_duplicates(node, file, text) if node is not None else []
        data = None if duplicates else construct_yaml(node)
    except yaml.MarkedYAMLError as e:
        span = _span(file, text.split("\n"), e.problem_mark or e.context_mark)
        raise SpecSyntaxError(problems=[_syntax(e.problem or str(e), span, "yaml")]) from None
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as e:
        what = "a number is too long" if "digits" in str(e) else f"{type(e).__name__}: {e}"
        raise SpecSyntaxError(problems=[_syntax(what, Span(file, 1, 1), "yaml")]) from None
    if duplicates:
        raise SpecError(problems=duplicates)
    return data, _positions(node, file, text.split("\n")) if node is not None else SourceMap()


def _read_json(text: str, file: str) -> tuple[object, SourceMap]:
    """JSON is read by the json module, positions and repeated keys by ``data_syntax.json_positions``."""
    if not text.strip():
        return None, SourceMap()
    try:
        data = json.loads(text, parse_int=bounded_int)
    except json.JSONDecodeError as e:
        span = Span(file, e.lineno, e.colno, text.split("\n")[e.lineno - 1])
        raise SpecSyntaxError(problems=[_syntax(e.msg, span, "json")]) from None
    except RecursionError:
        raise SpecSyntaxError(problems=[_syntax("values nest too deeply", Span(file, 1, 1), "json")]) from None
    except ValueError as e:  # an integer too long for int(), a lone surrogate, ...
        raise SpecSyntaxError(problems=[_syntax(str(e), Span(file, 1, 1), "json")]) from None
    spans, repeated = json_positions(text)
    if repeated:
        raise SpecError(problems=json_duplicates(repeated, file, text))
    return data, _offset_positions(spans, file, text)


def _offset_positions(spans: dict[str, tuple[int, int]], file: str, text: str) -> SourceMap:
    """Field path -> Span from character offsets (line starts found once: a file may hold 10,000 values)."""
    lines, starts = text.split("\n"), [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    smap = SourceMap()
    for path, (start, end) in spans.items():
        if path:
            row = bisect.bisect_right(starts, start) - 1
            width = end - start if end <= starts[row] + len(lines[row]) else 1
            smap[path] = Span(file, row + 1, start - starts[row] + 1, lines[row], width)
    return smap


def _not_a_mapping(data, file: str, lines: list[str], fmt: str) -> Problem:
    example = '{"edges": [{"src": "@1", "dst": "@2"}]}' if fmt == "json" else "edges:\n  - {src: '@1', dst: '@2'}"
    if data is None:
        what = "the file is empty" if not "".join(lines).strip() else "the file holds no value"
        return Problem(f"{what}; a spec in {fmt.upper()} is a mapping with fields such as `edges`",
                       Span(file, 1, 1), hint=f"write {{}} for a spec without edges, or e.g. {example}")
    kind = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true or false"}.get(
        type(data), type(data).__name__)
    return Problem(f"a spec in {fmt.upper()} is a mapping with fields such as `edges`; this file holds {kind}",
                   Span(file, 1, 1, lines[0] if lines else ""), hint=f"for example {example}")


def from_data(data: dict, file: str = "<data>", smap: SourceMap | None = None) -> Spec:
    """Validate a spec given as data (the YAML/JSON form)."""
    smap = smap or SourceMap()
    return validate_doc(data, smap).with_source(smap)


def _syntax(what: str, span, fmt: str) -> Problem:
    return Problem(f"not valid {fmt.upper()}: {what}", span,
                   hint="check the brackets, quotes and indentation just before this point")


def _span(file: str, lines: list[str], mark, width: int = 1) -> Span | None:
    if mark is None:
        return None
    text = lines[mark.line] if mark.line < len(lines) else ""
    return Span(file, mark.line + 1, mark.column + 1, text, max(1, width))


def _positions(node, file: str, lines: list[str]) -> SourceMap:
    smap = SourceMap()

    def visit(n, path: str) -> None:
        same_line = isinstance(n, yaml.ScalarNode) and n.end_mark.line == n.start_mark.line
        width = n.end_mark.column - n.start_mark.column if same_line else 1
        smap[path] = _span(file, lines, n.start_mark, width)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = str(k.value)
                child = f"{path}.{key}" if path else key
                visit(v, child)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                visit(v, f"{path}[{i}]")

    visit(node, "")
    smap.pop("", None)
    return smap
