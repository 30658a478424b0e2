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
    lines = text.split("\n")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = _span(file, lines, mark)
        raise SpecSyntaxError(problems=[_syntax(e, span)]) from None
    except (yaml.YAMLError, RecursionError) as e:
        raise SpecSyntaxError(f"{file}: not valid {fmt.upper()} ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{file}: a spec in {fmt.upper()} is a mapping with fields such as `edges`; "
                        f"got {type(data).__name__}")
    return from_data(data, file, _positions(node, file, lines))


def from_data(data: dict, file: str = "<data>", smap: SourceMap | None = None) -> Spec:
    """Validate a spec given as data (the YAML/JSON form)."""
    smap = smap or SourceMap()
    return validate_doc(data, smap).with_source(smap)


def _syntax(e, span):
    return Problem(f"not valid YAML/JSON: {e.problem or e}", span)


def _span(file: str, lines: list[str], mark) -> Span | None:
    if mark is None:
        return None
    text = lines[mark.line] if mark.line < len(lines) else ""
    return Span(file, mark.line + 1, mark.column + 1, text)


def _positions(node, file: str, lines: list[str]) -> SourceMap:
    smap = SourceMap()

    def visit(n, path: str) -> None:
        smap[path] = _span(file, lines, n.start_mark)
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
