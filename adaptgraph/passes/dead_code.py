"""Remove the nodes nothing reads, and the submodules only they called: one pass for both pipelines.

After ``select_output`` it drops what the discarded outputs (a pooler, attentions) computed; after
``unroll_recurrent``, what the earlier passes computed that no later pass reads. A node that writes
memory stays though nothing reads its value: an impure call, or an in-place op that was kept (see
``inplace.py``). Submodules are deleted only when the removed nodes were their last users, so a module
kept beside the graph on purpose (a trained ``lm_head``, see ``compiler.add_beside``) stays.
"""
from __future__ import annotations

import itertools

from torch import fx

from .inplace import is_inplace
from .properties import NO_DEAD_CODE
from .runner import Pass, PassResult


def eliminate_dead_code(gm: fx.GraphModule, context: object) -> PassResult:
    """Rewrite ``gm`` in place; the result counts the submodules deleted with their last callers."""
    def writes_memory(n: fx.Node) -> bool:
        inplace_module = n.op == "call_module" and getattr(gm.get_submodule(n.target), "inplace", False) is True
        return n.is_impure() or is_inplace(n) or inplace_module

    before = _used_modules(gm)
    modified = gm.graph.eliminate_dead_code(is_impure_node=writes_memory)
    unused = sorted(before - _used_modules(gm), key=lambda path: path.count("."))
    deleted = [path for path in unused if gm.delete_submodule(path)]  # a parent first takes its children along
    return PassResult(gm, modified or bool(deleted), len(deleted))


def _used_modules(gm: fx.GraphModule) -> set[str]:
    """Paths of the submodules the graph uses, by the rule of ``GraphModule.delete_all_unused_submodules``:
    the targets of module calls and attribute reads, their parents, and all submodules of a called one."""
    used: set[str] = set()
    for node in gm.graph.nodes:
        if node.op in ("call_module", "get_attr") and isinstance(node.target, str):
            used.update(itertools.accumulate(node.target.split("."), lambda a, b: f"{a}.{b}"))
            if node.op == "call_module":
                inside = gm.get_submodule(node.target).named_modules()
                used.update(f"{node.target}.{path}" for path, _ in inside if path)
    return used


ELIMINATE_DEAD_CODE = Pass("eliminate_dead_code", eliminate_dead_code, ensures=frozenset({NO_DEAD_CODE}))
