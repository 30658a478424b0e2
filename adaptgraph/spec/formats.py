"""The YAML/JSON form of a spec: the validated model dumped as data.

Both load through the same ``Spec`` model as ``.adapt`` text. Files are read with
PyYAML's composer (JSON is read the same way) so that validation errors still
point at ``file:line:col``.
"""
from __future__ import annotations

import json

import yaml

from ..errors import Problem, Span, SpecError, SpecSyntaxError
from .build import SourceMap, validate_doc
from .limits import data_problem, node_problem
from .models import Spec


def to_data(spec: Spec, expand: bool = False) -> dict:
    if expand:
        spec = spec.model_copy(update={"edges": spec.expanded()})
    return spec.model_dump(mode="json", exclude_defaults=True)


def to_data_text(spec: Spec, fmt: str, expand: bool = False) -> str:
    data = to_data(spec, expand)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise SpecError(f"unknown format {fmt!r}; formats: adapt, yaml, json")


def from_data_text(text: str, file: str, fmt: str) -> Spec:
    """Parse and validate the YAML/JSON form; errors point at ``file:line:col``."""
    lines = text.split("\n")
    too_big = data_problem(text, file)
    if too_big is not None:
        raise SpecSyntaxError(problems=[too_big])
    try:
        node = yaml.compose(text, Loader=_LOADER)
        problem = node_problem(node, file) if node is not None else None
        if problem is not None:
            raise SpecSyntaxError(problems=[problem])
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        span = _span(file, lines, e.problem_mark or e.context_mark)
        raise SpecSyntaxError(problems=[_syntax(e, span, fmt)]) from None
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as e:
        raise SpecSyntaxError(problems=[Problem(f"not valid {fmt.upper()} ({type(e).__name__}: {e})",
                                                Span(file, 1, 1))]) from None
    if not isinstance(data, dict):
        raise SpecError(problems=[_not_a_mapping(data, file, lines, fmt)])
    return from_data(data, file, _positions(node, file, lines))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: much faster


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


def _syntax(e, span, fmt: str) -> Problem:
    return Problem(f"not valid {fmt.upper()}: {e.problem or e}", span,
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
