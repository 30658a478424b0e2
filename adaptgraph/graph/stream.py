"""Stream points ``@0 .. @n-1`` (language.md section 5): the residual stream of repeated blocks.

Blocks: the ``stream PATTERN`` modules, or detected: the longest chain of modules of
one class that sit in a ``ModuleList``/``Sequential`` and whose outputs chain (block
k+1 reads block k's output; a chain may span containers, as ResNet's stages do),
together with the other chains of that class in containers of the same pattern
(``stages.*.blocks``: a hierarchical backbone such as ConvNeXt or Swin, whose stages
break the chain where a downsampling layer changes the width or grid) and its other
chains of several blocks (a second stack: T5's decoder after its encoder). When those
blocks are stages that each hold blocks of a finer class with residual merges, and
the finer blocks are more, they are the stream.
Points: each stage's input (the first block's, ``@0``, and after each break in the
chain, the next block's); then, per block, one point after each residual merge, in
order. A merge is an addition whose two operands both depend on the block input,
one of them being the incoming stream value or the previous point, with the
stream's shape. When an addition is the only input of a norm or
activation inside the block (post-norm BERT, ``relu(out + x)`` in a ResNet
BasicBlock) the point is that norm's or activation's output. A block with a
projection shortcut (``bn(conv(x)) + downsample(x)``) has no such addition; there
any addition of two values that both depend on the block input, with the block
output's shape, counts. If the last merge is not the block's output, the block
output is one more point, so the last point of a block is always its output.
A block with no merge at all, in a stream whose other blocks have merges (MobileNet's
and EfficientNet's downsampling blocks), has one point: its output. When no block
merges anything there is no residual stream (a PlanError).
Shared blocks: when no chain of distinct modules is found, the calls of one module
called several times in a chain (ALBERT's shared layer) are the blocks, named
``PATH``, ``PATH@1``, ``PATH@2`` ... (``scopes.later_calls``).
"""
from __future__ import annotations

import re

from torch import fx

from ..errors import PlanError, did_you_mean
from ..passes.nodes import is_tensor_node, op_name
from ..spec.edge_facts import glob_regex, has_glob, stream_name
from .memo import memoized
from .ports import PointInfo, node_order, point_info, scope_input, scope_output
from .scopes import Scope, innermost_path, later_calls, module_scopes
from .traced import Traced, class_name, node_shape

_ADD_OPS = frozenset({"add", "add_", "iadd", "__add__"})
_NORM_OPS = frozenset({"layer_norm", "rms_norm", "group_norm", "batch_norm"})
_ACT_OPS = frozenset({"relu", "relu_", "gelu", "silu", "silu_", "tanh", "sigmoid", "mish", "leaky_relu",
                      "elu", "hardswish", "relu6", "hardtanh", "softplus", "quick_gelu"})

Ends = dict[str, tuple[fx.Node | None, fx.Node | None]]


def stream_points(traced: Traced, pattern: str | None = None) -> list[PointInfo]:
    """The stream points ``@0 .. @n-1`` of ``traced``, blocks from ``pattern`` or detected."""
    key = ("stream", pattern, traced.module_paths)
    return list(memoized(traced.gm, key, lambda: _stream_points(traced, pattern)))


def _stream_points(traced: Traced, pattern: str | None) -> list[PointInfo]:
    scopes, calls = module_scopes(traced), later_calls(traced)
    ends = {path: (scope_input(s), scope_output(s)) for path, s in {**scopes, **calls}.items()}
    blocks = pattern_blocks(traced, scopes, ends, pattern) if pattern else detect_blocks(traced, scopes, ends)
    scopes = {**scopes, **calls}
    nodes: list[fx.Node] = []
    silent = []
    for block in blocks:
        if ends[block][0] not in nodes[-1:]:  # a stage's first block: its input is a point
            nodes.append(ends[block][0])
        merges = block_merges(traced, scopes[block], ends)
        nodes.extend(merges or [ends[block][1]])  # no residual (MobileNet's downsampling blocks): its output
        if not merges:
            silent.append(block)
    if len(silent) == len(blocks):  # no block merges anything: a plain chain, not a residual stream
        raise PlanError(
            f"no residual merges found in block{'s' if len(silent) > 1 else ''} {', '.join(silent)} "
            f"({scopes[silent[0]].type_name}), so there are no stream points",
            hint="stream points need blocks that add a computed value to their input; use module ports "
                 f"instead (e.g. '{blocks[0]}.in', '{blocks[0]}.out'), or name other blocks with 'stream PATTERN'",
        )
    order = node_order(traced)
    return [point_info(traced, stream_name(k), node, order) for k, node in enumerate(nodes)]


def detect_blocks(traced: Traced, scopes: dict[str, Scope], ends: Ends) -> list[str]:
    """The stream's blocks, in graph order (see the module docstring)."""
    groups: dict[str, list[str]] = {}
    containers = set(traced.containers)
    for path in scopes:  # graph order
        parent = path.rpartition(".")[0]
        if parent in containers and all(e is not None for e in ends[path]):
            groups.setdefault(traced.module_types.get(path, ""), []).append(path)
    chains = {kind: _chains(paths, ends) for kind, paths in groups.items()}
    longest = {kind: max(map(len, found)) for kind, found in chains.items()}
    if max(longest.values(), default=0) < 2:
        shared = _shared_calls(traced, ends)
        if shared:
            return shared
        raise PlanError(
            "found no repeated blocks (a ModuleList or Sequential of modules of one class whose outputs "
            "chain), so there are no stream points",
            hint="name the blocks with a 'stream PATTERN' statement (e.g. 'stream blocks.*'), "
                 "or use module ports (PATH.in / PATH.out)",
        )
    best = _stages(chains[max(longest, key=longest.get)])  # max keeps the first of equally long chains
    finer = [_stages(found) for found in chains.values()]
    finer = [f for f in finer if len(f) > len(best) and _nested(f, best) and block_merges(traced, scopes[f[0]], ends)]
    return max(finer, key=len, default=best)


def _shared_calls(traced: Traced, ends: Ends) -> list[str]:
    """The calls ``PATH``, ``PATH@1``, ... of one module of a container that is called several times in a
    chain (ALBERT's shared layer): the longest such chain, and of equally long ones the innermost module."""
    containers = set(traced.containers)
    chains = []
    for path in ends:
        if "@" in path or f"{path}@1" not in ends or path.rpartition(".")[0] not in containers:
            continue
        chain, k = [path], 1
        while f"{path}@{k}" in ends and ends[f"{path}@{k}"][0] is ends[chain[-1]][1] is not None:
            chain.append(f"{path}@{k}")
            k += 1
        chains.append(chain)
    best = max(chains, key=lambda c: (len(c), c[0].count(".")), default=[])
    return best if len(best) > 1 else []


def _chains(paths: list[str], ends: Ends) -> list[list[str]]:
    chains: list[list[str]] = []
    for path in paths:
        if chains and ends[path][0] is ends[chains[-1][-1]][1]:
            chains[-1].append(path)
        else:
            chains.append([path])
    return chains


def _stages(chains: list[list[str]]) -> list[str]:
    """The blocks of the chains that belong to the longest one's stream: those in containers of its
    pattern (the stages of a hierarchical backbone) and any other chain of several blocks (a second
    stack). A container holding two chains holds no blocks (an MLP's Linears, parallel heads)."""
    parents = [{path.rpartition(".")[0] for path in chain} for chain in chains]
    shared = {p for i, a in enumerate(parents) for b in parents[i + 1:] for p in a & b}
    kept = [c for c, p in zip(chains, parents) if not p & shared] or [max(chains, key=len)]
    pattern = _container_pattern(max(kept, key=len))
    return [path for c in kept if len(c) > 1 or _container_pattern(c) == pattern for path in c]


def _container_pattern(chain: list[str]) -> str:
    return re.sub(r"(?<=\.)[0-9]+(?=\.|$)|^[0-9]+(?=\.|$)", "*", chain[0].rpartition(".")[0])


def _nested(inner: list[str], outer: list[str]) -> bool:
    """Whether every block of ``outer`` (a stage) holds blocks of ``inner``, and ``inner`` lies within them."""
    inside = lambda path, block: path.startswith(block + ".")  # noqa: E731
    return (all(any(inside(p, b) for p in inner) for b in outer)
            and all(any(inside(p, b) for b in outer) for p in inner))


def pattern_blocks(traced: Traced, scopes: dict[str, Scope], ends: Ends, pattern: str) -> list[str]:
    """The called modules matching ``pattern`` (``*`` = one segment; a container stands for its children)."""
    if not has_glob(pattern) and pattern in traced.containers:
        pattern += ".*"
    suggestions = [f"{c}.*" for c in traced.containers if c]
    if pattern in traced.module_paths:
        raise PlanError(f"stream pattern '{pattern}' names one module, not a set of blocks",
                        hint=f"use '{pattern}.*' for its children, or a pattern such as "
                             f"{' or '.join(repr(s) for s in suggestions[:3]) or 'blocks.*'}")
    regex = glob_regex(pattern, shared=False)
    blocks = [p for p in scopes if regex.fullmatch(p) and all(e is not None for e in ends[p])]
    if blocks:
        return blocks
    raise PlanError(f"stream pattern '{pattern}' matches no module called in the forward pass",
                    hint=did_you_mean(pattern, suggestions) or "write a module path with '*' for the block index")


def block_merges(traced: Traced, scope: Scope, ends: Ends) -> list[fx.Node]:
    """The nodes holding the stream after each residual merge of one block (its output last)."""
    x0, out = ends[scope.path]
    inside = set(scope.nodes)
    depends = _dependents(x0, inside)
    merges = _merges(traced, scope, ends, depends, shapes={node_shape(x0), node_shape(out)}, strict=True)
    if not merges:  # projection shortcut: neither operand is the stream itself
        merges = _merges(traced, scope, ends, depends, shapes={node_shape(out)}, strict=False)
    if merges and merges[-1] is not out:
        merges.append(out)
    return merges


def _merges(traced: Traced, scope: Scope, ends: Ends, depends: set[fx.Node], shapes: set, strict: bool) -> list[fx.Node]:
    stream = {ends[scope.path][0]}
    points: list[fx.Node] = []
    for node in scope.nodes:
        operands = _add_operands(node)
        if operands is None or not set(operands) <= depends or node_shape(node) not in shapes:
            continue
        if strict and not stream & set(operands):
            continue
        point = _after_finishers(traced, node, set(scope.nodes), ends)
        points.append(point)
        stream.add(point)
    return points


def _dependents(x0: fx.Node, inside: set[fx.Node]) -> set[fx.Node]:
    """``x0`` and every node of the block computed from it."""
    seen, todo = {x0}, [x0]
    while todo:
        for user in todo.pop().users:
            if user in inside and user not in seen:
                seen.add(user)
                todo.append(user)
    return seen


def _add_operands(node: fx.Node) -> tuple[fx.Node, fx.Node] | None:
    if node.op not in ("call_function", "call_method") or op_name(node) not in _ADD_OPS:
        return None
    if not is_tensor_node(node) or len(node.args) < 2:
        return None
    a, b = node.args[:2]
    return (a, b) if is_tensor_node(a) and is_tensor_node(b) else None


def _after_finishers(traced: Traced, node: fx.Node, inside: set[fx.Node], ends: Ends) -> fx.Node:
    """Follow a merge into the norm/activation that is its only consumer inside the block."""
    point = node
    for _ in range(4):  # at most a norm then an activation in practice
        users = list(point.users)
        if len(users) != 1 or users[0] not in inside:
            break
        after = _finisher_output(traced, users[0], point, ends)
        if after is None:
            break
        point = after
    return point


def _finisher_output(traced: Traced, user: fx.Node, point: fx.Node, ends: Ends) -> fx.Node | None:
    known = set(traced.module_paths)
    path = innermost_path(user, known)
    if path is not None and _is_finisher_class(traced.module_types.get(path, "")) and ends.get(path, (None,))[0] is point:
        return ends[path][1]
    if not user.args or user.args[0] is not point:
        return None
    if user.op == "call_module" and _is_finisher_class(type(traced.gm.get_submodule(user.target)).__name__):
        return user
    if user.op in ("call_function", "call_method") and op_name(user) in _NORM_OPS | _ACT_OPS and is_tensor_node(user):
        return user
    return None


def _is_finisher_class(qualified: str) -> bool:
    name = class_name(qualified)
    if "Norm" in name:
        return True
    lowered = name.lower().removesuffix("activation")
    return lowered in _ACT_OPS or lowered in {"newgelu", "quickgelu", "gelupytorchtanh", "prelu", "leakyrelu"}
