"""The one orchestrator: load -> trace -> resolve -> passes -> trainable GraphModule."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from torch import fx, nn

from ..arguments import check_flag, check_instance, check_name, check_seed
from ..backbones import Backbone, get_backbone
from ..errors import BackboneError
from ..graph import Traced, trace_backbone
from ..passes import PLAN_PASSES, TRACED, PlanContext, run_passes
from ..passes.freeze import FREEZE_BACKBONE
from ..passes.unroll import UNROLL_RECURRENT
from ..spec import Spec, load
from ..weights.sharing import own_copy, share_weights
from ..weights.trainable import unwrap
from .plan import Plan, resolve

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
    """Apply a resolved ``plan`` to ``traced.gm`` by ``adaptgraph.passes.PLAN_PASSES``: install and insert
    adapters, unroll, freeze, keep the frozen backbone in eval mode.

    The result has its own graph and module objects, but its frozen parameters and buffers share
    storage with ``traced.gm``'s, which are the backbone's (see ``adaptgraph.weights.sharing``); the modules the
    spec trains (``train``) get their own copies, so training never writes into the backbone.
    """
    gm = share_weights(traced.gm)
    add_beside(gm, traced, plan.train)
    own_copy(gm, plan.train)
    backbone_parameters = sum(p.numel() for p in gm.parameters())
    gm, results = run_passes(gm, PLAN_PASSES, PlanContext(plan, seed), given=TRACED,
                             recompile_each=False)  # none of them runs the graph
    gm.adaptgraph = CompileInfo(plan.spec, plan, backbone_ref, traced.frontend, results[FREEZE_BACKBONE].count,
                                backbone_parameters, results[UNROLL_RECURRENT].count, seed)
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


def compile_info(model: nn.Module) -> CompileInfo:
    """The ``CompileInfo`` of a compiled model (unwrapping DDP / torch.compile wrappers)."""
    info = getattr(unwrap(model), "adaptgraph", None)
    if isinstance(info, CompileInfo):
        return info
    raise BackboneError("this module was not made by adaptgraph.compile")
