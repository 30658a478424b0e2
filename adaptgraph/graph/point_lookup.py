"""Bind point texts (``@K``, ``PATH.in``/``PATH.out``, ``%NODE``) and globbed edges to a traced graph."""
from __future__ import annotations

from ..errors import PlanError, closest, did_you_mean
from ..passes.nodes import is_tensor_node
from ..spec.edge_facts import bind_glob, glob_regex, has_glob, natural_key
from ..spec.points import parse_point
from .ports import PointInfo, module_ports, point_info
from .stream import stream_points
from .traced import Traced


def resolve_point(traced: Traced, text: str, stream: str | None = None) -> PointInfo:
    """The point ``text`` names in ``traced`` (``stream``: the spec's ``stream PATTERN``, if any)."""
    try:
        ref = parse_point(text)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    if ref.kind == "stream":
        return _stream_point(traced, ref.index, stream)
    if ref.kind == "node":
        return _node_point(traced, ref.node)
    return _port_point(traced, module_ports(traced), ref.path, ref.port)


def resolve_glob_pair(traced: Traced, src: str, dst: str, stream: str | None = None
                      ) -> list[tuple[PointInfo, PointInfo, tuple[str, ...]]]:
    """Expand the edge ``src -> dst``: one ``(source, destination, binding)`` per value of ``*``.

    Every ``*`` in the edge binds the same path segment (``blocks.*.in -> blocks.*.out``
    pairs block k with block k); ``binding`` is ``(value,)``, or ``()`` without ``*``.
    Values are those for which both ends are points of the graph, in natural order.
    """
    if not (has_glob(src) or has_glob(dst)):
        return [(resolve_point(traced, src, stream), resolve_point(traced, dst, stream), ())]
    ports = module_ports(traced)
    values = None
    for text in (src, dst):
        if has_glob(text):
            found = _glob_values(text, ports)
            if not found:
                raise PlanError(f"'{text}' matches no point of this backbone", hint=_glob_hint(text, ports))
            values = found if values is None else values & found
    if not values:
        raise PlanError(f"no value of '*' makes both '{src}' and '{dst}' points of this backbone",
                        hint=f"'{src}' and '{dst}' match different module paths; check both patterns")
    pairs = []
    for value in sorted(values, key=natural_key):
        pairs.append((resolve_point(traced, bind_glob(src, value), stream),
                      resolve_point(traced, bind_glob(dst, value), stream), (value,)))
    return pairs


def _stream_point(traced: Traced, index: int, stream: str | None) -> PointInfo:
    points = stream_points(traced, stream)
    n = len(points)
    if not -n <= index < n:
        raise PlanError(f"stream point @{index} is out of range: this backbone has {n} stream points, "
                        f"@0..@{n - 1} (or @-{n}..@-1 counting from the end)")
    return points[index]


def _node_point(traced: Traced, name: str) -> PointInfo:
    node = traced.node(name)
    if node is None:
        names = [n.name for n in traced.gm.graph.nodes if is_tensor_node(n)]
        raise PlanError(f"no node named '%{name}' in the traced graph",
                        hint=did_you_mean(name, names) or "print Traced.gm.graph to see the node names")
    if not is_tensor_node(node):
        raise PlanError(f"node '%{name}' does not compute a tensor, so it cannot be a point")
    return point_info(traced, f"%{name}", node)


def _port_point(traced: Traced, ports: dict[str, PointInfo], path: str, port: str) -> PointInfo:
    name = f"{path}.{port}"
    if name in ports:
        return ports[name]
    called = sorted({p.rsplit(".", 1)[0] for p in ports})
    if path in called:  # the module runs but one side has no tensor (e.g. it reads only parameters)
        raise PlanError(f"module '{path}' has no tensor {port}put in the traced graph, so '{name}' is not a point")
    if path in traced.beside and path not in called:  # the LM head of a causal-LM folder: applied after the features
        raise PlanError(f"module '{path}' is the backbone's LM head: it maps the features to next-token logits "
                        f"after the traced forward, so an adapter cannot sit on it ('{name}')",
                        hint=f"train it whole with `train {path}`, or put the adapter on the last layers")
    if path in traced.module_paths:
        children = [p for p in called if p.startswith(path + ".")]
        example = f"e.g. '{children[0]}'" if children else "check the module's forward"
        raise PlanError(f"module '{path}' is never called in the traced forward pass (a container or an "
                        f"unused module), so it has no .in/.out",
                        hint=f"use one of the modules inside it that run, {example}")
    raise PlanError(f"unknown module path '{path}' in point '{name}'",
                    hint=_suffix_hint(path, called) or did_you_mean(path, called)
                    or "module paths are what named_modules() prints")


def _suffix_hint(path: str, called: list[str]) -> str:
    """For a bare name such as ``query`` (PEFT's way to name targets): the ``**.query`` pattern."""
    ending = [p for p in called if p.endswith("." + path)]
    if not ending:
        return ""
    return (f"did you mean '**.{path}'? It names every module whose path ends in '.{path}' "
            f"({len(ending)} here, e.g. '{ending[0]}')")


def _glob_values(text: str, ports: dict[str, PointInfo]) -> set[str]:
    regex = glob_regex(text, shared=True)
    return {m["seg"] for name in ports if (m := regex.fullmatch(name))}


def prefix_hint(text: str, matches) -> str:
    """For a path written from the task model (``transformer.h.*``, ``model.layers.0``): the same path without
    its first segment, when ``matches(rest)`` says that one exists; else an empty string."""
    first, _, rest = text.partition(".")
    if not rest or has_glob(first) or has_glob(rest.split(".")[0]) or not matches(rest):
        return ""
    return (f"write '{rest}': module paths are the feature model's, without '{first}.' (a causal-LM folder's "
            f"are its bare decoder's, as in LlamaModel or GPT2Model)")


def _glob_hint(text: str, ports: dict[str, PointInfo]) -> str:
    """Suggest patterns made from real points, with ``*`` where ``text`` has it."""
    segments = text.split(".")
    if segments[0] == "**" and "**" not in segments[1:] and "*" not in segments:  # `**.TAIL`: a close tail
        tails = {".".join(name.split(".")[1 - len(segments):]) for name in ports}
        found = closest(".".join(segments[1:]), tails)
        return f"did you mean '**.{found[0]}'?" if found else "'**' stands for one or more path segments"
    stars = [i for i, seg in enumerate(segments) if seg == "*"]
    patterns = set()
    for name in ports:
        parts = name.split(".")
        if len(parts) == len(segments):
            patterns.add(".".join("*" if i in stars else part for i, part in enumerate(parts)))
    return (did_you_mean(text, patterns) or prefix_hint(text, lambda rest: bool(_glob_values(rest, ports)))
            or "'*' stands for exactly one path segment ('**' for one or more); module paths are what "
               "named_modules() prints")
