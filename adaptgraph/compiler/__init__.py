"""From a spec to a compiled model, and back from a file.

``plan``: a spec bound to one traced backbone (``resolve`` -> ``Plan``), every graph-dependent check.
``orchestrator``: the one orchestrator, ``compile`` (load -> trace -> resolve -> passes) and
``apply_plan``. ``adapter_files``: a compiled model's trained weights saved with its spec, and the
model compiled again from that file (``save_adapters``, ``load_adapters``).
"""
from .adapter_files import load_adapters, save_adapters
from .orchestrator import CompileInfo, apply_plan, compile, compile_info
from .plan import Plan, PlannedEdge, resolve

__all__ = ["CompileInfo", "Plan", "PlannedEdge", "apply_plan", "compile", "compile_info", "load_adapters",
           "resolve", "save_adapters"]
