"""The torch.fx frontend: symbolic tracing with leaf modules and automatic leaf fallback."""
from __future__ import annotations

import inspect

from torch import fx, nn


class LeafTracer(fx.Tracer):
    """An fx tracer that also keeps the given classes (by name) and module paths as leaves.

    ``call_module`` nodes keep the module path as their ``target``. When tracing
    fails, ``failed_path`` names the innermost module whose forward was being traced.
    """

    def __init__(self, leaf_classes: tuple[str, ...] = (), leaf_paths: frozenset[str] = frozenset()):
        super().__init__()
        self.leaf_classes = frozenset(leaf_classes)
        self.leaf_paths = leaf_paths

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if type(m).__name__ in self.leaf_classes or module_qualified_name in self.leaf_paths:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def failed_path(self) -> str:
        """After a failed trace: the module path on top of the call stack ("" for the root).

        fx pushes each module on ``module_stack`` before tracing its forward and pops
        it only on success, so after an exception the top entry is where it failed.
        """
        if not self.module_stack:
            return ""
        return next(reversed(self.module_stack.values()))[0]


def fx_graph(module: nn.Module, n_inputs: int, leaf_modules: tuple[str, ...] = ()) -> tuple[fx.GraphModule, tuple[str, ...]]:
    """Trace ``module`` with fx; return the graph module and the paths made leaves automatically.

    When tracing fails inside a submodule, that submodule becomes a leaf and tracing
    is retried, so the failure is pushed down to the smallest module that needs it.
    Raises the last tracing exception when the failure is in the root's own code.
    """
    concrete = _concrete_args(module, n_inputs)
    auto: list[str] = []
    for _ in range(len(list(module.modules())) + 1):
        tracer = LeafTracer(leaf_modules, frozenset(auto))
        try:
            graph = tracer.trace(module, concrete_args=concrete)
        except Exception:
            path = tracer.failed_path()
            if not path or path in auto:
                raise
            auto.append(path)
            continue
        name = type(module).__name__
        return fx.GraphModule(tracer.root, graph, name), tuple(auto)
    raise RuntimeError("fx tracing did not settle on a set of leaf modules")  # unreachable: each retry adds a new leaf


def _concrete_args(module: nn.Module, n_inputs: int) -> dict | None:
    """Forward parameters past the given positional inputs keep their defaults (e.g. ``token_type_ids=None``)."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    rest = [p for p in params if p.kind in positional][n_inputs:]
    concrete = {p.name: p.default for p in rest if p.default is not inspect.Parameter.empty}
    return concrete or None
