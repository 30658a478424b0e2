"""Module ports: ``PATH.in`` and ``PATH.out`` for every module call in a traced graph."""
from __future__ import annotations

import operator
from dataclasses import dataclass

from torch import fx
from torch.fx.passes.shape_prop import TensorMetadata
from torch.utils import _pytree as pytree

from ..passes.nodes import is_tensor_node
from .memo import memoized
from .scopes import Scope, module_scopes
from .traced import Traced, node_shape


@dataclass(frozen=True)
class PointInfo:
    """A point bound to a traced graph: which node holds its value, and that value's shape."""

    name: str  # canonical text: "blocks.0.attn.out", "@3", "%add_4"
    node: str  # name of the fx node in Traced.gm.graph whose value this point is
    shape: tuple[int, ...]  # shape on the example inputs
    feature_dim: int  # -1 for token tensors (B, T, D) / (B, D); 1 for NCHW
    order: int  # index of the node in the graph's topological order


def point_info(traced: Traced, name: str, node: fx.Node, order: dict[str, int] | None = None) -> PointInfo:
    """The ``PointInfo`` called ``name`` for a tensor ``node`` of ``traced.gm`` (``order``: from ``node_order``)."""
    shape = node_shape(node)
    order = order if order is not None else node_order(traced)
    return PointInfo(name=name, node=node.name, shape=shape, feature_dim=feature_dim(shape), order=order[node.name])


def feature_dim(shape: tuple[int, ...]) -> int:
    """Where features live: channels (dim 1) for image-like 4-d/5-d tensors, else the last dim."""
    return 1 if len(shape) in (4, 5) else -1


def node_order(traced: Traced) -> dict[str, int]:
    """Node name -> index in the graph's topological order."""
    return {n.name: i for i, n in enumerate(traced.gm.graph.nodes)}


def module_ports(traced: Traced) -> dict[str, PointInfo]:
    """``"PATH.in"`` and ``"PATH.out"`` for every module called in the graph (its first call).

    ``.in`` is the first tensor the call reads from outside itself (parameters and
    buffers excluded); ``.out`` is the last tensor it computes that is used outside
    it (for a tuple-returning leaf module, its first tensor element). A module whose
    call leaves no node (an ``Identity`` under export) has no ports.
    """
    return dict(memoized(traced.gm, ("ports", traced.module_paths), lambda: _module_ports(traced)))


def _module_ports(traced: Traced) -> dict[str, PointInfo]:
    ports: dict[str, PointInfo] = {}
    order = node_order(traced)
    for path, ends in port_nodes(traced).items():
        for port, node in zip(("in", "out"), ends):
            if node is not None:
                ports[f"{path}.{port}"] = point_info(traced, f"{path}.{port}", node, order)
    return ports


def port_nodes(traced: Traced) -> dict[str, tuple[fx.Node | None, fx.Node | None]]:
    """Path -> (``.in`` node, ``.out`` node) of each called module, in graph order."""
    return {path: (scope_input(scope), scope_output(scope)) for path, scope in module_scopes(traced).items()}


def scope_input(scope: Scope) -> fx.Node | None:
    inside = set(scope.nodes)
    for node in scope.nodes:
        for arg in pytree.tree_leaves((node.args, node.kwargs)):
            if arg not in inside and is_tensor_node(arg) and arg.op != "get_attr":
                return arg
    return None


def scope_output(scope: Scope) -> fx.Node | None:
    inside = set(scope.nodes)
    for node in reversed(scope.nodes):
        if any(user not in inside for user in node.users):
            if is_tensor_node(node):
                return node
            element = _first_tensor_element(node)
            if element is not None:
                return element
    return None


def _first_tensor_element(node: fx.Node) -> fx.Node | None:
    """For a node returning a tuple (a leaf module under fx): the getitem user of its first tensor."""
    metas = node.meta.get("tensor_meta")
    if not isinstance(metas, (tuple, list)):
        return None
    getitems = {u.args[1]: u for u in node.users if u.op == "call_function" and u.target is operator.getitem}
    for i, meta in enumerate(metas):
        if isinstance(meta, TensorMetadata):
            return getitems.get(i)
    return None
