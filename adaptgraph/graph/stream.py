"""Stream points ``@0 .. @n-1`` (language.md section 5): the residual stream of repeated blocks.

Blocks: the ``stream PATTERN`` modules, or detected: the modules of one class that
sit in a ``ModuleList``/``Sequential`` and whose outputs chain (block k+1 reads block
k's output; the chain may span containers, as ResNet's stages do), the class giving
the most blocks winning. A hierarchical backbone (ConvNeXt, Swin) breaks the chain
between stages, where a downsampling layer changes the width or grid: its stages'
chains all belong to the stream, as do the chains of a second stack (T5's decoder
after its encoder). A chain of one block counts only when it reads the previous
chain's output or the next chain reads its output (a one-block stage), and none
counts when its container holds another chain of the class (an MLP's Linears).
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
"""
from __future__ import annotations

from torch import fx

from ..errors import PlanError, did_you_mean
from ..spec.edge_facts import glob_regex, has_glob, stream_name
from .memo import memoized
from .ports import PointInfo, node_order, point_info, scope_input, scope_output
from .scopes import Scope, innermost_path, module_scopes
from .traced import Traced, class_name, is_tensor_node, node_shape, op_name

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
    scopes = module_scopes(traced)
    ends = {path: (scope_input(s), scope_output(s)) for path, s in scopes.items()}
    blocks = pattern_blocks(traced, scopes, ends, pattern) if pattern else detect_blocks(traced, scopes, ends)
    nodes: list[fx.Node] = []
    silent = []
    for block in blocks:
        if ends[block][0] not in nodes[-1:]:  # a stage's first block: its input is a point
            nodes.append(ends[block][0])
        merges = block_merges(traced, scopes[block], ends)
        nodes.extend(merges)
        if not merges:
            silent.append(block)
    if silent:
        raise PlanError(
            f"no residual merges found in block{'s' if len(silent) > 1 else ''} {', '.join(silent)} "
            f"({scopes[silent[0]].type_name}), so there are no stream points",
            hint="stream points need blocks that add a computed value to their input; use module ports "
                 f"instead (e.g. '{blocks[0]}.in', '{blocks[0]}.out'), or name other blocks with 'stream PATTERN'",
        )
    order = node_order(traced)
    return [point_info(traced, stream_name(k), node, order) for k, node in enumerate(nodes)]


def detect_blocks(traced: Traced, scopes: dict[str, Scope], ends: Ends) -> list[str]:
    """The same-class container elements whose chains give the most stream blocks, in graph order."""
    groups: dict[str, list[str]] = {}
    containers = set(traced.containers)
    for path in scopes:  # graph order
        parent = path.rpartition(".")[0]
        if parent in containers and all(e is not None for e in ends[path]):
            groups.setdefault(traced.module_types.get(path, ""), []).append(path)
    best: list[str] = []
    for paths in groups.values():
        blocks = _stages(traced, _chains(paths, ends), ends)
        if len(blocks) > len(best):  # the first of equally long streams stays
            best = blocks
    if len(best) < 2:
        raise PlanError(
            "found no repeated blocks (a ModuleList or Sequential of modules of one class whose outputs "
            "chain), so there are no stream points",
            hint="name the blocks with a 'stream PATTERN' statement (e.g. 'stream blocks.*'), "
                 "or use module ports (PATH.in / PATH.out)",
        )
    return best


def _chains(paths: list[str], ends: Ends) -> list[list[str]]:
    chains: list[list[str]] = []
    for path in paths:
        if chains and ends[path][0] is ends[chains[-1][-1]][1]:
            chains[-1].append(path)
        else:
            chains.append([path])
    return chains


def _stages(traced: Traced, chains: list[list[str]], ends: Ends) -> list[str]:
    """The blocks of the chains that are stages or stacks (see the module docstring).

    A container holding two chains of the class (the Linears of an MLP, parallel heads)
    holds no blocks: its elements do not chain.
    """
    if len(chains) == 1:
        return chains[0]
    parents = [{path.rpartition(".")[0] for path in chain} for chain in chains]
    shared = {p for i, a in enumerate(parents) for b in parents[i + 1:] for p in a & b}
    chains = [c for c, p in zip(chains, parents) if not p & shared]
    order = node_order(traced)
    linked = [_reads(ends[b[0]][0], ends[a[-1]][1], order) for a, b in zip(chains, chains[1:])]
    after, before = [False, *linked], [*linked, False]
    return [path for chain, a, b in zip(chains, after, before) if len(chain) > 1 or a or b for path in chain]


def _reads(node: fx.Node, source: fx.Node, order: dict[str, int]) -> bool:
    """Whether ``node`` is computed from ``source`` (a walk over users, never past ``node``)."""
    seen, todo = {source}, [source]
    while todo:
        for user in todo.pop().users:
            if user is node:
                return True
            if user not in seen and order[user.name] < order[node.name]:
                seen.add(user)
                todo.append(user)
    return False


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
