"""Which adapter edges sit on one linear module, and what that lets PEFT export and merging do.

An edge "on" module M is ``parallel M`` (reads M's input, adds to M's output) or
``sequential M`` (reads and adds to M's output). On an ``nn.Linear`` or a
Hugging Face ``Conv1D`` (GPT-2's linear layer with a transposed weight) such an
edge without activation or norm is linear in M's input, so it can be folded into
M's weight; a parallel one without biases is exactly a LoRA.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from ..compiler.plan import PlannedEdge
from ..spec.edge_facts import PORT_POINT_RE


@dataclass(frozen=True)
class ModuleEdge:
    """A planned edge bound to the linear module it sits on."""

    edge: PlannedEdge
    path: str  # the module's path in the backbone
    layout: str  # "linear" (weight out x in) or "conv1d" (weight in x out)


def module_path(edge: PlannedEdge) -> str | None:
    """M for ``parallel M.in -> M.out`` and ``sequential M.out -> M.out``, else None."""
    src, dst = PORT_POINT_RE.match(edge.src.name), PORT_POINT_RE.match(edge.dst.name)
    if not src or not dst or src["path"] != dst["path"] or dst["port"] != "out":
        return None
    if (edge.kind, src["port"]) in (("parallel", "in"), ("sequential", "out")):
        return dst["path"]
    return None


def weight_layout(module: nn.Module) -> str | None:
    """``linear`` for ``nn.Linear``, ``conv1d`` for transformers' ``Conv1D``, else None."""
    if isinstance(module, nn.Linear):
        return "linear"
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf") and getattr(module, "weight", None) is not None:
        return "conv1d"
    return None


def on_linear_module(edge: PlannedEdge, root: nn.Module) -> tuple[ModuleEdge | None, str]:
    """The edge bound to its linear module, or ``(None, why not)``."""
    path = module_path(edge)
    if path is None:
        return None, (f"it is a {edge.kind} edge {edge.src.name} -> {edge.dst.name}, not an adapter on one "
                      f"module (parallel M or sequential M)")
    try:
        module = root.get_submodule(path)
    except AttributeError:
        return None, f"{path} is not a submodule of the backbone"
    layout = weight_layout(module)
    if layout is None:
        return None, f"{path} is a {type(module).__name__}, not a linear layer (nn.Linear or Conv1D)"
    return ModuleEdge(edge, path, layout), ""


def nonlinear_reason(edge: PlannedEdge) -> str:
    """Why the adapter itself is not a linear map of its source, or an empty string."""
    options = edge.options
    if options.act != "none":
        return f"it has the activation act = {options.act}"
    if options.norm != "none":
        return f"it normalises its input (norm = {options.norm})"
    return ""


def mergeable(edge: PlannedEdge, root: nn.Module) -> tuple[ModuleEdge | None, str]:
    """The edge as a ``ModuleEdge`` when it folds into its module's weights, else ``(None, why not)``."""
    if edge.kind in ("longrange", "recurrent"):
        return None, (f"it is a {edge.kind} edge {edge.src.name} -> {edge.dst.name}: it adds a path "
                      f"the backbone's layers do not have")
    found, why = on_linear_module(edge, root)
    if found is None:
        return None, why
    why = nonlinear_reason(edge)
    return (None, why) if why else (found, "")


def lora_compatible(edge: PlannedEdge, root: nn.Module) -> tuple[ModuleEdge | None, str]:
    """The edge as a ``ModuleEdge`` when it is exactly a LoRA, else ``(None, why not)``."""
    if edge.kind != "parallel" or module_path(edge) is None:  # a parallel edge between other points too
        return None, (f"it is a {edge.kind} edge {edge.src.name} -> {edge.dst.name}; PEFT's LoRA is only "
                      f"`parallel M` on a linear module M")
    found, why = on_linear_module(edge, root)
    if found is None:
        return None, why
    why = nonlinear_reason(edge) or ("it has biases (bias = true); LoRA's matrices have none: "
                                     "train it with `bias = false`" if edge.options.bias else "")
    return (None, why) if why else (found, "")


def sorted_problems(problems: list[tuple[str, str]]) -> str:
    """``name: reason`` lines, one per refused edge."""
    return "\n".join(f"  {name}: {why}" for name, why in problems)


def call_counts(root: nn.Module, paths, inputs) -> Counter:
    """How many times each module of ``paths`` runs in one forward of ``root`` on ``inputs``. An edge on
    a module called several times (ALBERT's one shared layer) sits on its first call only, while a fold
    into its weight, or PEFT's LoRA, would change every call."""
    counts: Counter = Counter()
    hooks = [root.get_submodule(p).register_forward_hook(lambda *_, p=p: counts.update([p])) for p in set(paths)]
    try:
        with torch.no_grad():
            root(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return counts


def shared_call_reason(path: str, calls: int, other: str) -> str:
    """Why an edge on a module called ``calls`` > 1 times cannot become ``other`` (a fold, a LoRA)."""
    return (f"{path} runs {calls} times in the forward (a shared module) and the adapter changes its first "
            f"call only; {other} would change all {calls}")
