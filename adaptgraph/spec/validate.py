"""Checks that need the whole spec but no backbone.

``semantic_problems`` returns problems with field paths (``edges[2].template``);
the loader maps those paths to source positions. Field-level checks (types,
bounds, allowed values) are pydantic's, in ``models.py``.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

from ..errors import Problem, did_you_mean
from .edge_facts import INFERRED_KIND, fitting_kind
from .expand import MAX_EDGES, MAX_STEPS, statement_sizes, statement_steps, walk
from .points import parse_point


def semantic_problems(spec, where: Callable[[str], str] = str, templates: Iterable[str] | None = None) -> list[Problem]:
    """Problems of the whole spec; ``where`` turns a field path into words for messages
    that refer to another place (the loader passes one that gives the line); ``templates``
    are the template names written, when some were left out of ``spec`` for their own problems."""
    problems: list[Problem] = []
    problems += _backbone_problems(spec.backbone)
    problems += _template_problems(spec, list(spec.templates) if templates is None else list(templates))
    size_problems = _size_problems(spec.edges)
    if size_problems:
        return problems + size_problems
    expanded = list(walk(spec.edges, problems=problems))
    problems += _duplicate_problems(expanded, where)
    problems += _kind_problems(expanded)
    return problems


def _size_problems(statements) -> list[Problem]:
    total = 0
    for i, n in enumerate(statement_sizes(statements)):
        total += n
        if total > MAX_EDGES:
            what = f"this loop makes {n} edges" if n > 1 else "the edges before it are too many"
            if n > MAX_EDGES:
                what = f"this loop makes more than {MAX_EDGES} edges"
            return [Problem(f"the spec expands to more than {MAX_EDGES} edges ({what})", path=f"edges[{i}]",
                            hint="use shorter ranges or fewer nested loops; globs (`*`) also make many edges "
                                 "without expanding here")]
    return _step_problems(statements)


def _step_problems(statements) -> list[Problem]:
    """Loops cost their iterations even when they make few edges (an empty body runs too)."""
    total = 0
    for i, n in enumerate(statement_steps(statements)):
        total += n
        if total > MAX_STEPS:
            return [Problem(f"the spec's loops are too long: expanding them takes more than {MAX_STEPS} steps "
                            "(loop iterations plus edges made)", path=f"edges[{i}]",
                            hint="use shorter ranges or fewer nested loops, and remove loops that make no edges")]
    return []


# Only the form SCHEME:NAME is the spec's to check: which schemes exist is the backbone
# registry's fact (``register_scheme`` adds more), reported where the backbone is loaded.
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+.-]*$")


def _backbone_problems(ref) -> list[Problem]:
    if ref is None:
        return []
    scheme, sep, rest = ref.partition(":")
    if not sep or not rest or not _SCHEME_RE.match(scheme):
        return [Problem(f"backbone reference {ref!r} has no scheme", path="backbone",
                        hint='write SCHEME:NAME, for example "hf:minilm" or "zoo:vit-tiny"')]
    return []


def _template_problems(spec, known: list[str]) -> list[Problem]:
    out = []
    for path, edge in _all_edges(spec.edges, "edges"):
        if edge.template is not None and edge.template not in known:
            hint = did_you_mean(edge.template, known) or (
                "templates defined: " + ", ".join(known) if known else
                f"define it with `adapter {edge.template} {{ ... }}` (in YAML/JSON: under `templates`)")
            out.append(Problem(f"unknown template {edge.template!r}", path=f"{path}.template", hint=hint))
    return out


def _all_edges(statements, path):
    """Edges as written (loops not unrolled), with their paths."""
    for i, st in enumerate(statements):
        if hasattr(st, "var"):
            yield from _all_edges(st.body, f"{path}[{i}].body")
        else:
            yield f"{path}[{i}]", st


def _duplicate_problems(expanded, where) -> list[Problem]:
    out, names, pairs = [], {}, {}
    for path, edge in expanded:
        if edge.name is not None:
            if edge.name not in names:
                names[edge.name] = path
                continue
            first = names[edge.name]
            out.append(Problem(f"duplicate edge name {edge.name!r}{_first(first, path, where)}",
                               path=f"{path}.name", hint=_dup_hint(first, path, "give every edge its own name")))
        elif (edge.src, edge.dst) not in pairs:
            pairs[edge.src, edge.dst] = path
        else:
            first = pairs[edge.src, edge.dst]
            out.append(Problem(f"duplicate edge {edge.src} -> {edge.dst}{_first(first, path, where)}", path=path,
                               hint=_dup_hint(first, path, "remove one, or name both with `as NAME` if you mean "
                                                           "two adapters")))
    return out


def _first(first: str, path: str, where) -> str:
    return " (the loop makes it more than once)" if first == path else f" (first at {where(first)})"


def _dup_hint(first: str, path: str, hint: str) -> str:
    if first == path:
        return "use the loop variable in the points or the name, e.g. `@{i}` or `as attn_{i}`"
    return hint


def _kind_problems(expanded) -> list[Problem]:
    """One problem per written edge whose points contradict its asserted kind (a loop reports
    its first misfit and says that other values of the loop misfit too)."""
    found: dict[str, Problem] = {}
    repeats: dict[str, int] = {}
    for path, edge in expanded:
        problem = _kind_problem(path, edge)
        if problem is None:
            continue
        repeats[path] = repeats.get(path, -1) + 1
        found.setdefault(path, problem)
    out = []
    for path, problem in found.items():
        if repeats[path]:
            problem = Problem(f"{problem.message} (and {repeats[path]} more value{'s' * (repeats[path] != 1)} "
                              "of the loop)", path=problem.path, hint=problem.hint)
        out.append(problem)
    return out


def _kind_problem(path: str, edge) -> Problem | None:
    if edge.kind == INFERRED_KIND:
        return None
    try:
        fits = fitting_kind(parse_point(edge.src), parse_point(edge.dst))
    except ValueError:
        return None  # point syntax is reported by field validation
    if fits is None or fits == edge.kind:
        return None
    return Problem(f"`{edge.kind} {edge.src} -> {edge.dst}` does not fit: these points make a {fits} edge",
                   path=f"{path}.kind",
                   hint=f"write `{fits} {edge.src} -> {edge.dst}`, or `edge` to let adaptgraph infer the kind")
