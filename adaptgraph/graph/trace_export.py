"""The torch.export frontend: non-strict export with dynamic batch (and sequence) dimensions."""
from __future__ import annotations

import torch
from torch import fx, nn
from torch.export import Dim

from ..errors import first_line

# Tried in order: the first that exports wins. Token inputs are 2-d integer tensors
# (input_ids, attention_mask); their dim 1 is the sequence length.
DYNAMIC_LEVELS = ("batch+seq", "batch", "static")


def export_graph(module: nn.Module, inputs: tuple) -> tuple[fx.GraphModule, str, list[str]]:
    """Export ``module`` on ``inputs``; return ``(graph module, dynamic level, failures)``.

    ``failures`` holds one line per dynamic level that did not export (they fall
    back to fewer dynamic dimensions). Raises the static export's exception when
    even that fails.
    """
    failures: list[str] = []
    levels = [lvl for lvl in DYNAMIC_LEVELS if lvl != "batch+seq" or _has_tokens(inputs)]
    for level in levels:
        try:
            program = torch.export.export(module, tuple(inputs), dynamic_shapes=_dynamic_shapes(inputs, level), strict=False)
        except Exception as exc:  # noqa: BLE001 - any export failure means: try fewer dynamic dims
            if level == "static":
                raise
            failures.append(f"dynamic {level}: {first_line(exc)}")
            continue
        return _plain_graph_module(_unlifted(program)), level, failures
    raise RuntimeError("unreachable: the static level either returns or raises")


def _has_tokens(inputs: tuple) -> bool:
    return any(_is_token_tensor(x) for x in inputs)


def _is_token_tensor(x: object) -> bool:
    return isinstance(x, torch.Tensor) and x.dim() == 2 and not x.is_floating_point()


def _dynamic_shapes(inputs: tuple, level: str) -> tuple | None:
    if level == "static":
        return None
    # Dim.DYNAMIC lets export infer ranges (BERT's seq <= 512) but fails if a dim is specialised.
    batch = seq = Dim.DYNAMIC
    shapes = []
    for x in inputs:
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            shapes.append(None)
            continue
        dims = {0: batch}
        if level == "batch+seq" and _is_token_tensor(x):
            dims[1] = seq
        shapes.append(dims)
    return tuple(shapes)


def _unlifted(program) -> fx.GraphModule:
    """The program as a module, without export's ``_guards_fn`` submodule (it cannot be pickled, so a graph
    holding it could not be cached; the traced-vs-eager check and the plan's shape checks stand in for it)."""
    try:
        return program.module(check_guards=False)
    except TypeError:  # torch before 2.9 has no check_guards and no guard module
        return program.module()


def _plain_graph_module(exported: fx.GraphModule) -> fx.GraphModule:
    """A plain ``fx.GraphModule`` over the exported graph.

    ``ExportedProgram.module()`` returns a module whose ``train()``/``eval()`` raise
    and whose code flattens inputs/outputs with pytrees; later passes need neither.
    The pytree output code stays until ``select_output`` replaces it.
    """
    # Unpickling a GraphModule re-traces its code with the graph's tracer class; export's
    # _ModuleStackTracer cannot be built that way, torch.fx's own Tracer can (None selects it).
    exported.graph._tracer_cls = None
    return fx.GraphModule(exported, exported.graph, "ExportedBackbone")
