"""Spec + traced backbone -> Plan: every edge bound to graph nodes, with its kind and sizes.

All graph-dependent checks happen here (unknown points, globs that match nothing,
shape mismatches, asserted kinds the graph contradicts, unknown `train` paths),
and all problems are raised together, each at the spec's ``file:line:col``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AdaptGraphError, PlanError, ProblemList, did_you_mean
from ..graph import PointInfo, Traced, resolve_point
from ..graph.point_lookup import prefix_hint, resolve_glob_pair
from ..spec.edge_facts import (INFERRED_KIND, adapter_flops, adapter_parameters, edge_kind, glob_regex, has_glob,
                              module_of_ports)
from ..spec.expand import MAX_EDGES, walk
from ..spec.models import Options, Spec


@dataclass(frozen=True)
class PlannedEdge:
    """One adapter edge bound to the graph."""

    name: str  # the adapter's submodule is ``adapters.<name>``
    kind: str  # sequential | parallel | longrange | recurrent (asserted or inferred)
    src: PointInfo
    dst: PointInfo
    options: Options  # effective options (built-ins < defaults < template < own)
    source_path: str  # where it came from in the spec, e.g. ``edges[2]``

    @property
    def in_features(self) -> int:
        return self.src.shape[self.src.feature_dim]

    @property
    def out_features(self) -> int:
        return self.dst.shape[self.dst.feature_dim]

    @property
    def parameters(self) -> int:
        return adapter_parameters(self.in_features, self.out_features, self.options)

    def flops_per_example(self) -> int:
        """Extra FLOPs of one call of this adapter, per example (positions = all non-batch, non-feature dims)."""
        dims = [s for i, s in enumerate(self.src.shape) if i not in (0, self.src.feature_dim % len(self.src.shape))]
        positions = 1
        for s in dims:
            positions *= s
        return adapter_flops(self.in_features, self.out_features, self.options, positions)


@dataclass(frozen=True)
class Plan:
    """A spec bound to one traced backbone."""

    spec: Spec
    edges: tuple[PlannedEdge, ...]
    train: tuple[str, ...]  # resolved module paths whose parameters are trained
    passes: int  # 1 without recurrent edges, else spec.passes

    @property
    def recurrent(self) -> tuple[PlannedEdge, ...]:
        return tuple(e for e in self.edges if e.kind == "recurrent")

    @property
    def forward(self) -> tuple[PlannedEdge, ...]:
        return tuple(e for e in self.edges if e.kind != "recurrent")


def resolve(spec: Spec, traced: Traced) -> Plan:
    """Bind ``spec`` to ``traced``; raise one ``PlanError`` listing every problem."""
    problems = ProblemList()
    edges: list[PlannedEdge] = []
    for path, edge in walk(spec.edges):
        edges += _bind_edge(spec, traced, path, edge, problems)
        if len(edges) > MAX_EDGES:  # globs multiply the spec's edges by the backbone's blocks
            problems.add(f"the spec makes more than {MAX_EDGES} adapters on this backbone (globs counted)",
                         spec.span(path), path, "use fewer edges or narrower globs")
            break
    edges = _unique_names(edges)
    _check_size(spec, traced, edges, problems)
    train = _resolve_train(spec, traced, problems)
    problems.raise_if_any(PlanError)
    passes = spec.passes if any(e.kind == "recurrent" for e in edges) else 1
    return Plan(spec, tuple(edges), train, passes)


def _bind_edge(spec, traced, path, edge, problems) -> list[PlannedEdge]:
    if not _points_resolve(spec, traced, path, edge, problems):
        return []
    try:
        pairs = resolve_glob_pair(traced, edge.src, edge.dst, stream=spec.stream)
    except AdaptGraphError as e:
        for p in e.problems:
            where = _quoted_point(p.message, edge)
            problems.add(p.message, spec.span(where and f"{path}.{where}" or path), where and f"{path}.{where}"
                         or path, p.hint)
        return []
    out = []
    for src, dst, binding in pairs:
        planned = _bind_pair(spec, path, edge, src, dst, binding, problems)
        if planned is not None:
            out.append(planned)
    return out


def _points_resolve(spec, traced, path, edge, problems) -> bool:
    """Resolve each point without a glob on its own, so an error points at the right one."""
    ok, seen = True, set()
    for field in ("src", "dst"):
        text = getattr(edge, field)
        if has_glob(text):
            continue
        try:
            resolve_point(traced, text, spec.stream)
        except AdaptGraphError as e:
            ok = False
            for p in e.problems:
                if p.message not in seen:  # e.g. "no stream points" holds for both ends: say it once
                    seen.add(p.message)
                    problems.add(p.message, spec.span(f"{path}.{field}"), f"{path}.{field}", p.hint)
    return ok


def _quoted_point(message: str, edge) -> str:
    """Which end of the edge an error message quotes ('src', 'dst' or '' for both or neither)."""
    found = [f for f in ("src", "dst") if f"'{getattr(edge, f)}" in message]
    return found[0] if len(found) == 1 else ""


def _bind_pair(spec, path, edge, src, dst, binding, problems) -> PlannedEdge | None:
    if not _shapes_fit(src, dst):
        problems.add(f"{src.name} has shape {list(src.shape)} and {dst.name} has shape {list(dst.shape)}: "
                     "all dimensions but the features must match", spec.span(f"{path}.src"), path,
                     "pick points on the same token grid or feature map (features may differ in width)")
        return None
    kind = infer_kind(src, dst)
    if edge.kind != INFERRED_KIND and edge.kind != kind:
        problems.add(f"`{edge.kind} {src.name} -> {dst.name}` does not fit the graph: it is a {kind} edge",
                     spec.span(f"{path}.kind"), f"{path}.kind",
                     f"write `{kind}`, or `edge` to let adaptgraph infer the kind")
        return None
    name = edge.name or default_edge_name(src, dst)
    if edge.name and binding:
        name = f"{edge.name}_{'_'.join(binding)}"
    return PlannedEdge(name, kind, src, dst, spec.options_for(edge), path)


def _shapes_fit(src: PointInfo, dst: PointInfo) -> bool:
    if len(src.shape) != len(dst.shape) or src.feature_dim % len(src.shape) != dst.feature_dim % len(dst.shape):
        return False
    fd = src.feature_dim % len(src.shape)
    return all(a == b for i, (a, b) in enumerate(zip(src.shape, dst.shape)) if i != fd)


def infer_kind(src: PointInfo, dst: PointInfo) -> str:
    """The kind an edge between two points has, from where they sit in the graph (language.md 4)."""
    return edge_kind(src.name, dst.name, src.order, dst.order)


def default_edge_name(src: PointInfo, dst: PointInfo) -> str:
    """A readable identifier from the two points: ``@3 -> @9`` is ``s3__s9``; the parallel adapter
    of a module (``M.in -> M.out``) is named after the module."""
    path = module_of_ports(src.name, dst.name)
    return _ident(path) if path is not None else f"{_ident(src.name)}__{_ident(dst.name)}"


def _ident(point: str) -> str:
    text = point.replace("@", "s").replace("%", "n").replace("-", "m")
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _unique_names(edges: list[PlannedEdge]) -> list[PlannedEdge]:
    """Two edges between the same points (named apart in the spec) keep distinct module names."""
    seen: dict[str, int] = {}
    out = []
    for e in edges:
        n = seen.get(e.name, 0)
        seen[e.name] = n + 1
        out.append(e if n == 0 else PlannedEdge(f"{e.name}_{n}", e.kind, e.src, e.dst, e.options, e.source_path))
    return out


# Adapters may hold at most this many times the backbone's parameters (but always 2^22, 16 MB in float32):
# checked here, before anything is allocated, so that `rank = 1000000` is a clear error, not 8 GB.
MAX_ADAPTER_RATIO = 4
MIN_ADAPTER_LIMIT = 2**22


def _check_size(spec: Spec, traced: Traced, edges: list[PlannedEdge], problems) -> None:
    if not edges:
        return
    backbone = sum(p.numel() for p in traced.gm.parameters())
    limit = max(MAX_ADAPTER_RATIO * backbone, MIN_ADAPTER_LIMIT)
    total = sum(e.parameters for e in edges)
    if total <= limit:
        return
    big = max(edges, key=lambda e: e.parameters)
    path = f"{big.source_path}.options.rank"
    problems.add(f"the adapters would hold {total:,} parameters, over the limit of {limit:,} for this backbone "
                 f"({MAX_ADAPTER_RATIO} times its {backbone:,}, at least {MIN_ADAPTER_LIMIT:,}); the largest, "
                 f"{big.name}, has rank {big.options.rank} between {big.in_features} and {big.out_features} features",
                 spec.span(path), path, "a rank rarely needs to exceed the widths of an edge's ends: use a smaller "
                 "rank or fewer edges")


def _train_matches(pattern: str, paths: tuple[str, ...]) -> list[str]:
    """Module paths ``train PATTERN`` names. A leading ``**.`` also names a module at the root (as PEFT's
    suffix rule does): ``train **.lm_head`` trains a causal LM's ``lm_head``, which has no prefix."""
    regexes = [glob_regex(pattern, shared=False)]
    if pattern.startswith("**."):
        regexes.append(glob_regex(pattern[3:], shared=False))
    return [p for p in paths if any(r.fullmatch(p) for r in regexes)]


def _resolve_train(spec: Spec, traced: Traced, problems) -> tuple[str, ...]:
    out: list[str] = []
    for i, pattern in enumerate(spec.train):
        found = _train_matches(pattern, traced.module_paths)
        if not found:
            hint = (prefix_hint(pattern, lambda rest: bool(_train_matches(rest, traced.module_paths)))
                    or did_you_mean(pattern, traced.module_paths) or "run `adaptgraph points BACKBONE` to list "
                                                                     "module paths")
            problems.add(f"`train {pattern}`: no module has this path", spec.span(f"train[{i}]"), f"train[{i}]", hint)
        out += [p for p in found if p not in out]
    return tuple(out)
