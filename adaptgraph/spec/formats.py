"""The YAML/JSON form of a spec: the validated model dumped as data.

Both load through the same ``Spec`` model as ``.adapt`` text. YAML is read with
PyYAML's composer and JSON with the json module; positions come from the composed
node tree, so that validation errors still point at ``file:line:col``.
"""
from __future__ import annotations

import json

import yaml

from ..errors import Problem, Span, SpecError, SpecSyntaxError
from .build import SourceMap, validate_doc
from .limits import data_problem, printed_size_problem, shape_problem
from .models import Spec
from .printer import dumps as dumps_adapt


def to_data(spec: Spec, expand: bool = False) -> dict:
    if expand:
        spec = spec.model_copy(update={"edges": spec.expanded()})
    return spec.model_dump(mode="json", exclude_defaults=True)


def to_data_text(spec: Spec, fmt: str, expand: bool = False) -> str:
    data = to_data(spec, expand)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    raise SpecError(f"unknown format {fmt!r}; formats: adapt, yaml, json")


def from_data_text(text: str, file: str, fmt: str) -> Spec:
    """Parse and validate the YAML/JSON form; errors point at ``file:line:col``."""
    lines = text.split("\n")
    too_big = data_problem(text, file)
    if too_big is not None:
        raise SpecSyntaxError(problems=[too_big])
    data, node = _read_json(text, file) if fmt == "json" else _read_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError(problems=[_not_a_mapping(data, file, lines, fmt)])
    problem = shape_problem(data, file)  # before anything walks the data recursively
    if problem is not None:
        raise SpecSyntaxError(problems=[problem])
    spec = from_data(data, file, _positions(node, file, lines) if node is not None else SourceMap())
    too_big = printed_size_problem(dumps_adapt(spec), file)  # every format reads every spec back
    if too_big is not None:
        raise SpecError(problems=[too_big])
    return spec


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: much faster


def _read_yaml(text: str, file: str):
    """The data and the composed node tree (for positions)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
        return (yaml.SafeLoader("").construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as e:
        span = _span(file, text.split("\n"), e.problem_mark or e.context_mark)
        raise SpecSyntaxError(problems=[_syntax(e.problem or str(e), span, "yaml")]) from None
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as e:
        what = "a number is too long" if "digits" in str(e) else f"{type(e).__name__}: {e}"
        raise SpecSyntaxError(problems=[_syntax(what, Span(file, 1, 1), "yaml")]) from None


def _bounded_int(text: str) -> int:
    """Absurdly long integers are clamped (as in .adapt text): bounds checks then reject them."""
    if len(text.lstrip("-")) <= 1000:
        return int(text)
    return int(("-" if text.startswith("-") else "") + "9" * 1000)


def _read_json(text: str, file: str):
    """JSON is read by the json module (YAML 1.1 reads `1e3` as text, and refuses escaped
    surrogate pairs); positions come from YAML's composer when it can read the file."""
    if not text.strip():
        return None, None
    try:
        data = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as e:
        span = Span(file, e.lineno, e.colno, text.split("\n")[e.lineno - 1])
        raise SpecSyntaxError(problems=[_syntax(e.msg, span, "json")]) from None
    except RecursionError:
        raise SpecSyntaxError(problems=[_syntax("values nest too deeply", Span(file, 1, 1), "json")]) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except (yaml.YAMLError, RecursionError, TypeError, ValueError):
        node = None  # valid JSON that YAML cannot read: no positions, same data
    return data, node


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
