"""The one orchestrator: load -> trace -> resolve -> passes -> trainable GraphModule."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from torch import fx, nn

from .adapters import LowRankAdapter
from .arguments import check_flag, check_instance, check_name, check_seed
from .backbones import Backbone, get_backbone
from .errors import BackboneError
from .frozen_eval import keep_frozen_in_eval
from .graph import Traced, trace_backbone
from .sharing import own_copy, share_weights
from .passes import (Pass, eliminate_dead_code, freeze_backbone, insert_forward_edges, run_passes,
                     strip_backbone_dropout, unroll_recurrent)
from .plan import Plan, resolve
from .spec import Spec, load
from .trainable import ADAPTERS, unwrap

__all__ = ["DEFAULT_SEED", "CompileInfo", "apply_plan", "build_adapters", "compile", "compile_info", "plan_passes",
           "trace_backbone"]

DEFAULT_SEED = 0


@dataclass(frozen=True)
class CompileInfo:
    """What a compiled model was made from; kept on the model as ``model.adaptgraph``."""

    spec: Spec
    plan: Plan
    backbone_ref: str
    frontend: str
    trainable: int  # trainable parameters (adapters + `train` modules)
    backbone_parameters: int
    recomputed_nodes: int  # nodes each extra pass recomputes (0 without recurrent edges)
    seed: int


def compile(spec: Spec | str | Path, backbone: str | nn.Module | Backbone | None = None, *,
            example_inputs: tuple | None = None, frontend: str | None = None, trust_code: bool = False,
            seed: int = DEFAULT_SEED) -> fx.GraphModule:
    """Compile ``spec`` against ``backbone`` into a trainable ``GraphModule`` with a frozen backbone.

    ``spec`` is a ``Spec`` or a path to a spec file. ``backbone`` is a reference (``"zoo:vit-tiny"``,
    ``"hf:minilm"``), an ``nn.Module`` (give ``example_inputs``) or a loaded ``Backbone``; it defaults to
    the spec's ``backbone``. Adapter weights are drawn from ``seed``, so the same call gives the same model.

    The compiled model's frozen parameters and buffers are the backbone's own tensors (shared
    storage, no copy): N specs compiled on one backbone cost it once plus N sets of adapters.
    The backbone object itself is never changed (its weights, ``requires_grad`` flags and
    train/eval mode stay as they were); do not train or edit it in place while compiled models
    use it (see docs/api.md, "What compiled models share").
    """
    check_instance(spec, (Spec, str, os.PathLike), "spec", "a Spec or the path of a spec file")
    check_name(frontend, "frontend")
    check_flag(trust_code, "trust_code")
    check_seed(seed)  # what compile accepts, save_adapters writes and load_adapters reads back
    spec = spec if isinstance(spec, Spec) else load(spec)
    try:
        bb = get_backbone(backbone if backbone is not None else spec.backbone, example_inputs, trust_code)
    except BackboneError as e:
        if backbone is not None or spec.span("backbone") is None:
            raise
        raise BackboneError(problems=[replace(p, span=spec.span("backbone"), path="backbone") for p in e.problems]) \
            from None
    traced = trace_backbone(bb, frontend)
    return apply_plan(traced, resolve(spec, traced), bb.ref, seed)


def apply_plan(traced: Traced, plan: Plan, backbone_ref: str = "", seed: int = DEFAULT_SEED) -> fx.GraphModule:
    """Apply a resolved ``plan`` to ``traced.gm``: insert adapters, unroll, freeze.

    The result has its own graph and module objects, but its frozen parameters and buffers share
    storage with ``traced.gm``'s, which are the backbone's (see ``adaptgraph.sharing``); the modules the
    spec trains (``train``) get their own copies, so training never writes into the backbone.
    """
    gm = share_weights(traced.gm)
    add_beside(gm, traced, plan.train)
    own_copy(gm, plan.train)
    backbone_parameters = sum(p.numel() for p in gm.parameters())
    gm.add_module(ADAPTERS, build_adapters(plan, seed))
    gm, results = run_passes(gm, plan_passes(plan), recompile_each=False)  # none of them runs the graph
    keep_frozen_in_eval(gm)  # train() keeps the frozen backbone in eval mode (its statistics are shared)
    gm.adaptgraph = CompileInfo(plan.spec, plan, backbone_ref, traced.frontend, results["freeze_backbone"].count,
                                backbone_parameters, results["unroll_recurrent"].count, seed)
    return gm


def add_beside(gm: fx.GraphModule, traced: Traced, train: tuple[str, ...]) -> None:
    """Give ``gm`` the modules beside the forward that the spec trains (a causal LM's ``lm_head``).

    A head tied to the input embedding is the embedding's own parameter: torch.export may already
    have named it ``lm_head.weight`` (then the graph holds it), else the new module gets the graph's
    parameter itself. Either way ``own_copy`` keeps them one tensor, so the pair trains together as in
    transformers; an untied head gets its own module over the backbone's weights.
    """
    by_memory = {p.data_ptr(): p for p in gm.parameters()}
    for path, module in traced.beside.items():
        if path not in train or path in dict(gm.named_modules()):
            continue
        head = share_weights(module)
        for name, p in list(head.named_parameters(recurse=False)):
            if p.data_ptr() in by_memory:
                setattr(head, name, by_memory[p.data_ptr()])
        gm.add_module(path, head)


def plan_passes(plan: Plan) -> list[tuple[str, Pass]]:
    """The named passes that apply ``plan``, in order; each reads only the graph the one before left."""
    return [
        ("strip_backbone_dropout", strip_backbone_dropout),
        ("insert_forward_edges", partial(insert_forward_edges, edges=plan.forward)),
        ("unroll_recurrent", partial(unroll_recurrent, edges=plan.recurrent, passes=plan.passes)),
        ("eliminate_dead_code", eliminate_dead_code),
        ("freeze_backbone", partial(freeze_backbone, train_paths=plan.train)),
    ]


def build_adapters(plan: Plan, seed: int) -> nn.ModuleDict:
    """One adapter per planned edge, initialised from ``seed`` without touching the global RNG."""
    adapters = nn.ModuleDict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for e in plan.edges:
            adapters[e.name] = LowRankAdapter(e.in_features, e.out_features, e.options, feature_dim=e.src.feature_dim)
    return adapters


def compile_info(model: nn.Module) -> CompileInfo:
    """The ``CompileInfo`` of a compiled model (unwrapping DDP / torch.compile wrappers)."""
    info = getattr(unwrap(model), "adaptgraph", None)
    if isinstance(info, CompileInfo):
        return info
    raise BackboneError("this module was not made by adaptgraph.compile")
