"""adaptgraph: decide where adapters go in a pretrained network, and put them there.

The spec API (``loads``, ``load``, ``dumps``, ``dump``, ``Spec``) needs no torch.
Everything that does (compile, scoring, training, search) is imported on first use.
"""
from .errors import AdaptGraphError
from .spec import Edge, Loop, Options, Spec, dump, dumps, load, loads

__version__ = "0.1.0"

# name -> module that defines it; imported lazily so `import adaptgraph` stays light.
_LAZY = {
    "compile": "adaptgraph.compiler",
    "disabled_adapters": "adaptgraph.adapters.disable",
    "generate": "adaptgraph.generation",
    "save_adapters": "adaptgraph.compiler",
    "load_adapters": "adaptgraph.compiler",
    "score_edges": "adaptgraph.score",
    "ScoreConfig": "adaptgraph.score",
    "search": "adaptgraph.searcher",
    "plot_spec": "adaptgraph.plot",
}

__all__ = ["AdaptGraphError", "Edge", "Loop", "Options", "Spec", "dump", "dumps", "load", "loads", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adaptgraph' has no attribute {name!r}")
