"""Module calls in a traced graph, found from ``node.meta["nn_module_stack"]``.

Both frontends record, for each node, the stack of module calls it was created
in: an ordered dict ``call key -> (module path, module class)``. A module called
twice gets two keys (``blocks.0`` and ``blocks.0@1`` under fx). Export may prefix
paths with the root (``L['self'].``); paths here always equal ``named_modules()``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from torch import fx

from .traced import Traced, class_name

_ROOT_PREFIX = re.compile(r"^(?:L\['self'\]|L__self__|self)(?:\.|$)")


@dataclass(frozen=True)
class Scope:
    """One call of one module: the nodes created while it ran (nested calls included)."""

    path: str
    type_name: str  # the module's class name, e.g. "LayerNorm"
    nodes: tuple[fx.Node, ...]  # in graph order


def module_scopes(traced: Traced) -> dict[str, Scope]:
    """The first call of every module of ``traced.module_paths`` that has nodes in the graph, by path."""
    return {path: calls[0] for path, calls in module_calls(traced).items()}


def later_calls(traced: Traced) -> dict[str, Scope]:
    """``"PATH@k"`` -> the k-th call (k >= 1, in graph order) of each module called more than once
    (ALBERT's one shared layer, called once per layer); the scope's ``path`` is that name too."""
    return {f"{path}@{k}": Scope(f"{path}@{k}", scope.type_name, scope.nodes)
            for path, calls in module_calls(traced).items() for k, scope in enumerate(calls) if k}


def module_calls(traced: Traced) -> dict[str, list[Scope]]:
    """Every call of every module of ``traced.module_paths`` that has nodes in the graph, by path, in graph order."""
    known = set(traced.module_paths)
    members: dict[str, list[fx.Node]] = {}
    info: dict[str, tuple[str, str]] = {}
    for node in traced.gm.graph.nodes:
        for key, (raw_path, cls) in node.meta.get("nn_module_stack", {}).items():
            path = clean_path(raw_path, known)
            if path is None:
                continue
            info.setdefault(key, (path, class_name(cls)))
            members.setdefault(key, []).append(node)
    calls: dict[str, list[Scope]] = {}
    for key, nodes in members.items():  # dict order = order of first node: calls in the order they run
        path, cls = info[key]
        calls.setdefault(path, []).append(Scope(path, cls, tuple(nodes)))
    return calls


def clean_path(raw: object, known: set[str]) -> str | None:
    """``raw`` as a ``named_modules()`` path, or None when it names no module of the backbone."""
    path = str(raw)
    if path in known:
        return path
    path = _ROOT_PREFIX.sub("", path)
    path = re.sub(r"\[['\"]?([^\]'\"]+)['\"]?\]", r".\1", path).lstrip(".")  # blocks[0] -> blocks.0
    return path if path in known else None


def innermost_path(node: fx.Node, known: set[str]) -> str | None:
    """The path of the innermost module call ``node`` was created in."""
    for raw_path, _ in reversed(list(node.meta.get("nn_module_stack", {}).values())):
        path = clean_path(raw_path, known)
        if path is not None:
            return path
    return None
