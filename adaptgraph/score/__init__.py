"""Gradient-rank scoring of candidate adapter edges, and selection of a few of them.

Typical use::

    from adaptgraph.score import score_edges, select
    scores = score_edges("hf:minilm", "wordnet:noun?per_class=100", batches=4)
    scores.save("runs/scores/scores.json"); scores.heatmap("runs/scores/heatmap.png")
    spec = select(scores, k=4, strategy="gga", gamma=0.6, rank=8)   # a Spec, printable as .adapt

Pieces: ``probes`` (H and Delta from one forward/backward pass), ``pairwise`` and
``accumulate`` (spectra of all n^2 G_ij = H_i^T Delta_j), ``metrics`` (rank, effective
rank, norms), ``scoring`` (``score_edges``, which runs them on a backbone and a task),
``edge_scores`` (its result, JSON and heat map), ``select`` (GGA and baselines), ``norms``
(Frobenius norms of all G_ij without spectra), ``allocate`` (ranks from the spectra under a budget).
"""
from .accumulate import PairwiseAccumulator
from .allocate import Allocation, allocate_chosen, allocate_ranks
from .edge_scores import EdgeScores
from .metrics import METRICS, RankSaturationWarning, default_rtol, numerical_rank
from .norms import pair_fro
from .pairwise import PairSpectra, pair_spectra, score_matrices
from .probes import Probed, probe
from .scoring import score_edges
from .select import STRATEGIES, Choice, candidates, choose, manhattan, select, to_spec

__all__ = [
    "METRICS", "STRATEGIES", "Allocation", "Choice", "EdgeScores", "PairSpectra", "PairwiseAccumulator", "Probed",
    "RankSaturationWarning", "allocate_chosen", "allocate_ranks", "candidates", "choose", "default_rtol", "manhattan", "numerical_rank", "pair_fro", "pair_spectra",
    "probe", "score_edges", "score_matrices", "select", "to_spec",
]
