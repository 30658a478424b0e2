"""A compiled spec's adapters, attached to the eager backbone by forward hooks.

The compiled GraphModule runs the whole sequence: it has no key-value cache. The eager
Hugging Face model has one, and every forward edge is a position-wise function of named
points, so the same adapters can be called from hooks on the eager modules whose inputs or
outputs hold those points, one token at a time. Each point's graph node is mapped to a
hook site:

- a point the spec **reads** (an edge's source) is captured where a module call returns
  it (a forward hook: ``M.out``) or receives it (a pre-hook: ``M.in``);
- a point the spec **writes** (an edge's destination) is changed where a module call
  returns it, so every later reader sees the sum; a residual merge ``x + r`` that no
  module returns (the stream point after attention) is written through ``x``, when ``x``
  is a module's output used only by that merge: ``(x + a) + r`` is the merge plus ``a``.

What cannot be mapped (a recurrent edge, which needs a second pass over the whole
sequence; a self-edge on a merge no module returns; a node no module call holds) is
named in the reason ``plan_hooks`` returns, and the caller falls back to full
recomputation. The mapping only says where hooks go; the caller compares the hooked
model's logits with the compiled model's before trusting it.
"""
from __future__ import annotations

import contextlib
import operator
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from ..graph import Traced
from ..graph.ports import port_nodes
from ..passes.nodes import is_tensor_node, op_name
from ..compiler.plan import Plan
from ..weights.trainable import adapter_path


@dataclass(frozen=True)
class Write:
    """Add ``adapter(source)`` to a module's output (``source`` None: the output itself, before any write)."""

    adapter: str  # the adapter's path in the compiled model
    source: str | None  # the graph node read, or None for a self-edge


@dataclass
class Site:
    """What the hooks of one module do: points captured from its input, writes and captures at its output."""

    reads_in: list[str] = field(default_factory=list)
    own_writes: list[Write] = field(default_factory=list)  # into the node this module returns
    reads_out: list[str] = field(default_factory=list)
    merge_writes: list[Write] = field(default_factory=list)  # into a merge this module's output feeds


@dataclass(frozen=True)
class HookPlan:
    """Where each edge's adapter is called: module path -> ``Site``."""

    sites: dict[str, Site]


class Unmapped(Exception):
    """An edge has no hook site; the message says why (shown to the user as the fallback's reason)."""


def plan_hooks(traced: Traced, plan: Plan, module: nn.Module) -> HookPlan:
    """The hook sites of ``plan``'s edges on ``module`` (the eager backbone); ``Unmapped`` when none fit."""
    if plan.recurrent:
        names = ", ".join(e.name for e in plan.recurrent)
        raise Unmapped(f"recurrent edges ({names}) need a second pass over the whole sequence")
    outs, ins = _port_sites(traced, module)
    nodes = {n.name: n for n in traced.gm.graph.nodes}
    sites: dict[str, Site] = defaultdict(Site)
    for edge in plan.forward:
        self_edge = edge.src.node == edge.dst.node
        write = Write(adapter_path(edge.name), None if self_edge else edge.src.node)
        if edge.dst.node in outs:
            sites[outs[edge.dst.node]].own_writes.append(write)
        else:
            operand = _merge_operand(nodes[edge.dst.node], outs)
            if operand is None:
                raise Unmapped(f"edge {edge.name} writes {edge.dst.name}, which no module call returns or feeds "
                               "alone into a residual merge")
            if self_edge:
                raise Unmapped(f"edge {edge.name} reads {edge.dst.name} before its own adapters, and no module "
                               "call returns that point")
            sites[outs[operand]].merge_writes.append(write)
        if not self_edge:
            _add_read(sites, edge.src, outs, ins)
    return HookPlan(dict(sites))


def _port_sites(traced: Traced, module: nn.Module) -> tuple[dict[str, str], dict[str, str]]:
    """Node name -> the module path whose call returns it, and -> one whose call receives it.

    Of several modules returning one node (``h.0.attn`` and its ``resid_dropout``), the innermost
    is kept: its return value is the tensor itself, not a tuple around it."""
    own = {name for name, _ in module.named_modules() if name}
    outs: dict[str, str] = {}
    ins: dict[str, str] = {}
    for path, (first, last) in port_nodes(traced).items():
        if path not in own:
            continue
        if last is not None and len(path) >= len(outs.get(last.name, "")):
            outs[last.name] = path
        if first is not None:
            ins.setdefault(first.name, path)
    return outs, ins


def _merge_operand(node: fx.Node, outs: dict[str, str]) -> str | None:
    """For ``x + r`` with ``x`` a module's output used only here: ``x``'s node name."""
    if node.op != "call_function" or op_name(node) not in ("add", "__add__") or node.target is operator.iadd:
        return None
    for arg in node.args[:2]:
        if is_tensor_node(arg) and arg.name in outs and len(arg.users) == 1:
            return arg.name
    return None


def _add_read(sites: dict[str, Site], point, outs: dict[str, str], ins: dict[str, str]) -> None:
    if point.node in outs:
        site = sites[outs[point.node]]
        if point.node not in site.reads_out:
            site.reads_out.append(point.node)
    elif point.node in ins:
        site = sites[ins[point.node]]
        if point.node not in site.reads_in:
            site.reads_in.append(point.node)
    else:
        raise Unmapped(f"{point.name} is neither the input nor the output of a module call")


@contextlib.contextmanager
def attached(hooks: HookPlan, root: nn.Module, backbone: nn.Module, model: nn.Module):
    """Within the block, ``root``'s forward (which runs ``backbone``) calls ``model``'s adapters by hooks.

    Each forward of ``root`` starts with no captured points; a module called more than once in
    one forward acts on its first call only, as the traced graph's ports name its first call.
    """
    captured: dict[str, torch.Tensor] = {}
    calls: dict[str, int] = {}

    def reset(*_):
        captured.clear()
        calls.clear()

    handles = [root.register_forward_pre_hook(reset)]
    for path, site in hooks.sites.items():
        sub = backbone.get_submodule(path)
        # the adapters' own forward, called without the module-call machinery (they have no hooks of their own)
        adapters = {w.adapter: model.get_submodule(w.adapter).forward for w in site.own_writes + site.merge_writes}
        if site.reads_in:
            handles.append(sub.register_forward_pre_hook(_pre_hook(path, site, captured, calls), with_kwargs=True))
        if adapters or site.reads_out:
            handles.append(sub.register_forward_hook(_post_hook(path, site, captured, calls, adapters)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _first_call(path: str, calls: dict, counted: bool) -> bool:
    """Whether this is the module's first call in the forward (``counted``: the pre-hook counted it)."""
    if not counted:
        calls[path] = calls.get(path, 0) + 1
    return calls[path] == 1


def _pre_hook(path: str, site: Site, captured: dict, calls: dict):
    def hook(module, args, kwargs):
        if _first_call(path, calls, counted=False):
            value = _first_tensor(args)
            value = value if value is not None else _first_tensor(kwargs.values())
            for node in site.reads_in:
                captured[node] = value
        return None
    return hook


def _post_hook(path: str, site: Site, captured: dict, calls: dict, adapters: dict):
    counted = bool(site.reads_in)  # the pre-hook has counted this call

    def hook(module, args, output):
        if not _first_call(path, calls, counted):
            return None
        value = _first_tensor(output if isinstance(output, (tuple, list)) else (output,))
        before = value
        for w in site.own_writes:
            value = value + adapters[w.adapter](before if w.source is None else _read(captured, w))
        for node in site.reads_out:
            captured[node] = value
        for w in site.merge_writes:
            value = value + adapters[w.adapter](_read(captured, w))
        return _replace_first(output, value) if value is not before else None
    return hook


def _read(captured: dict, write: Write) -> torch.Tensor:
    if write.source not in captured:
        raise Unmapped(f"the adapter {write.adapter} reads node {write.source} after the eager model has used it")
    return captured[write.source]


def _first_tensor(values) -> torch.Tensor | None:
    return next((v for v in values if isinstance(v, torch.Tensor)), None)


def _replace_first(output, value: torch.Tensor):
    if isinstance(output, torch.Tensor):
        return value
    items = list(output)
    items[next(i for i, v in enumerate(items) if isinstance(v, torch.Tensor))] = value
    return tuple(items) if type(output) is tuple else items
