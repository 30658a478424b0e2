"""Statement records -> a validated ``Spec``, with every problem mapped to its source position.

Three layers of checks, all collected before anything is raised:
1. statement rules (at most one ``spec``, what may stand inside a loop, ...), here;
2. field rules (types, bounds, allowed values, unknown options), pydantic's, part by part
   (``field_checks``);
3. whole-spec rules (templates, duplicates, kinds), ``validate.semantic_problems``.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from ..errors import ProblemList, Span, SpecError, SpecSyntaxError
from .expand import ExprError, interpolate
from .field_checks import check_fields
from .models import Spec
from .transform import Stmt
from .validate import semantic_problems

_ONCE = {"spec": "name", "backbone": "backbone", "stream": "stream", "passes": "passes"}
_LOOP_OK = {"edge", "for", "train"}
# Module paths `train` in loops may make: each is printed in the spec's canonical text, which must
# load again (MAX_TOKENS); more modules are trained with one glob (`train blocks.*.mlp`).
MAX_TRAIN_PATHS = 1000


class SourceMap(dict):
    """Field path (``edges[2].options.rank``) -> ``Span``; lookups fall back to the nearest parent."""

    def find(self, path: str) -> Span | None:
        while path:
            if path in self:
                return self[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def build_spec(records: list[Stmt], file: str, default_name: str | None, syntax_problems=()) -> Spec:
    """Assemble and validate; syntax problems found earlier are reported with all the others."""
    doc: dict[str, Any] = {}
    smap, problems = SourceMap(), ProblemList(list(syntax_problems))
    _top_level(records, doc, smap, problems)
    if default_name and "name" not in doc:
        doc["name"] = default_name
    spec = None
    try:
        spec = validate_doc(doc, smap)
    except SpecError as e:
        problems.problems += e.problems
    problems.raise_if_any(SpecSyntaxError if syntax_problems else SpecError)
    return spec.with_source(smap)


def validate_doc(doc: dict, smap: SourceMap) -> Spec:
    """Field checks part by part, then whole-spec checks on the parts that passed; all problems
    raised together, with positions. The spec is built from fields already validated."""
    checked = check_fields(doc)
    spec = Spec.model_construct(**checked.values)
    where = _where(smap)
    found = list(checked.problems)
    for p in semantic_problems(spec, lambda path: where(checked.original_path(path)), checked.templates):
        found.append(dataclasses.replace(p, path=checked.original_path(p.path)))
    problems, seen = ProblemList(), set()
    for p in found:
        span = smap.find(p.path)
        key = (p.message, span or p.path)  # `parallel M` puts src and dst at one place: say it once
        if key not in seen:
            seen.add(key)
            problems.add(p.message, span, p.path, p.hint)
    problems.raise_if_any()
    return spec


def _where(smap: SourceMap):
    """Field path -> words for messages that refer to another place ("line 3")."""
    def where(path: str) -> str:
        span = smap.find(path)
        return f"line {span.line}" if span else path
    return where


def _top_level(records, doc, smap, problems) -> None:
    seen: dict[str, Span] = {}
    edges, train, templates = [], [], {}
    for st in records:
        if st.tag in _ONCE or st.tag == "defaults":
            if st.tag in seen:
                problems.add(f"`{st.tag}` may appear only once (first at line {seen[st.tag].line})", st.span,
                             hint=f"remove one of the `{st.tag}` statements")
                continue
            seen[st.tag] = st.span
        if st.tag in _ONCE:
            field = _ONCE[st.tag]
            doc[field] = st[field]
            smap[field] = st.spans.get(field if st.tag != "spec" else "name", st.span)
        elif st.tag == "defaults":
            doc["defaults"] = _options(st["options"], "defaults", smap, problems)
        elif st.tag == "adapter":
            _template(st, templates, smap, problems)
        elif st.tag in ("edge", "for"):
            edges.append(_statement(st, f"edges[{len(edges)}]", smap, problems, train))
        elif st.tag == "train":
            train += _train_paths(st, {}, len(train), smap, problems)
    if edges:
        doc["edges"] = edges
    if train:
        doc["train"] = list(dict.fromkeys(train))
    if templates:
        doc["templates"] = templates


def _template(st, templates, smap, problems) -> None:
    name = st["name"]
    if name in templates:
        problems.add(f"duplicate template name {name!r}", st.spans["name"], f"templates.{name}",
                     hint="give each `adapter` template its own name")
        return
    smap[f"templates.{name}"] = st.spans["name"]
    templates[name] = _options(st["options"], f"templates.{name}", smap, problems)


def _options(opts: Stmt, path: str, smap, problems) -> dict:
    smap[path] = opts.span
    for name, span in opts.spans.get("duplicates", []):
        problems.add(f"option {name!r} is set twice", span, f"{path}.{name}", hint="keep one of them")
    for key, span in opts.spans.items():
        if key != "duplicates":
            smap[f"{path}.{key.split(':')[0]}"] = span
    return dict(opts)


def _statement(st: Stmt, path: str, smap, problems, train: list, loops=()) -> dict:
    smap[path] = st.span
    for key, span in st.spans.items():
        if key != "range":
            smap[f"{path}.{key}"] = span
    if st.tag == "edge":
        _check_sugar(st, path, problems)
        out = {k: v for k, v in st.items() if k != "options"}
        if "options" in st:
            out["options"] = _options(st["options"], f"{path}.options", smap, problems)
        return out
    smap[f"{path}.start"] = smap[f"{path}.stop"] = smap[f"{path}.values"] = st.spans["range"]
    body = []
    loops = loops + ((st["var"], _values(st)),)
    for inner in st["body"]:
        if inner.tag not in _LOOP_OK:
            problems.add(f"`{inner.tag}` is not allowed inside a for loop", inner.span,
                         hint="move it before the loop; loops may hold edges, loops and `train`")
        elif inner.tag == "train":  # train paths in loops are expanded now: `train` holds no loops
            if not _train_fits(inner, loops, train, problems):
                continue
            names = [v for v, _ in loops]
            for combo in itertools.product(*[vals for _, vals in loops]):
                train += _train_paths(inner, dict(zip(names, combo)), len(train), smap, problems)
        else:
            body.append(_statement(inner, f"{path}.body[{len(body)}]", smap, problems, train, loops))
    out = {k: st[k] for k in ("var", "start", "stop", "values") if k in st}
    out["body"] = body
    return out


def _train_fits(st: Stmt, loops, train: list, problems) -> bool:
    """Counted before expanding: `train` in nested loops would otherwise grow without bound."""
    count = math.prod(len(values) for _, values in loops) * len(st["paths"])
    if len(train) + count <= MAX_TRAIN_PATHS:
        return True
    problems.add(f"`train` in these loops makes {count} module paths (at most {MAX_TRAIN_PATHS} in all)", st.span,
                 hint="train whole blocks with a `*` glob (`train blocks.*.mlp`) instead of a path per loop value")
    return False


def _check_sugar(st: Stmt, path: str, problems) -> None:
    """`parallel M` adds the ports itself, so `parallel M.in` is almost surely a slip."""
    module = getattr(st, "sugar_module", None)
    if module is None or not module.endswith((".in", ".out")):
        return
    base = module.rsplit(".", 1)[0]
    problems.add(f"`{st['kind']} {module}` names a point, but `{st['kind']} MODULE` takes a module",
                 st.spans["src"], f"{path}.src",
                 hint=f"write `{st['kind']} {base}` (it means {st['src'].replace(module, base, 1)} -> "
                      f"{st['dst'].replace(module, base, 1)}), or an explicit edge `{st['kind']} SRC -> DST`")


def _values(st) -> list[int]:
    if "values" in st:
        return list(st["values"])
    start, stop = st["start"], st["stop"]
    return list(range(start, stop + 1)) if 0 <= stop - start < 100_000 else []


def _train_paths(st, env, offset, smap, problems) -> list[str]:
    out = []
    for path_text, span in zip(st["paths"], st.spans["paths"]):
        try:
            out.append(interpolate(path_text, env))
        except ExprError as e:
            problems.add(str(e), span, hint=e.hint)
            continue
        smap[f"train[{offset + len(out) - 1}]"] = span
    return out
