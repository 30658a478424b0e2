"""Gradient-rank scoring of candidate adapter edges, and selection of a few of them.

Typical use::

    from adaptgraph.score import score_edges, select
    scores = score_edges("hf:minilm", "wordnet:noun?per_class=100", ScoreConfig(batches=4))
    scores.save("runs/scores/scores.json"); scores.heatmap("runs/scores/heatmap.png")
    spec = select(scores, SelectConfig(k=4, strategy="gga"))   # a Spec, printable as .adapt

Pieces: ``probes`` (H and Delta from one forward/backward pass), ``pairwise`` and
``accumulate`` (spectra of all n^2 G_ij = H_i^T Delta_j), ``metrics`` (rank, effective
rank, norms), ``scoring`` (``score_edges``, which runs them by a ``ScoreConfig`` on a backbone and a task),
``edge_scores`` (its result, JSON and heat map), ``select`` (GGA and baselines, by a ``SelectConfig``), ``norms``
(Frobenius norms of all G_ij without spectra), ``allocate`` (ranks from the spectra under a budget).
"""
from __future__ import annotations

import importlib

# The torch-free parts are imported here; the rest on first use, so that the CLI can build its flags
# from the configs' defaults without importing torch for every command.
from .allocate import Allocation, allocate_chosen, allocate_ranks
from .config import METRICS, ScoreConfig, SelectConfig
from .edge_scores import EdgeScores
from .select import STRATEGIES, Choice, candidates, choose, manhattan, select, to_spec

_LAZY = {  # name -> submodule that defines it
    "RankSaturationWarning": "metrics", "default_rtol": "metrics", "numerical_rank": "metrics", "pair_fro": "norms",
    "probe": "probes", "score_edges": "scoring",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METRICS", "STRATEGIES", "Allocation", "Choice", "EdgeScores", "RankSaturationWarning", "ScoreConfig",
           "SelectConfig", "allocate_chosen", "allocate_ranks", "candidates", "choose", "default_rtol", "manhattan",
           "numerical_rank", "pair_fro", "probe", "score_edges", "select", "to_spec"]
