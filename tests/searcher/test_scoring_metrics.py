"""The search's scoring pass computes the spectra only where something reads them (issue 24): the ranks it
counts without them are the same."""
import numpy as np
from search_fixtures import quick_search

from adaptgraph.score import EdgeScores
from adaptgraph.score.metrics import METRICS
from adaptgraph.searcher import Budget


def test_the_spectra_are_computed_only_for_allocated_ranks_and_the_ranks_agree(task_file, tmp_path):
    quick_search(task_file, tmp_path / "ranks")
    quick_search(task_file, tmp_path / "allocated", budget=Budget(adapters=(1, 2), ranks="allocated"))
    fast, full = (EdgeScores.load(tmp_path / name / "scores.json") for name in ("ranks", "allocated"))
    assert fast.metrics == ("rank",) and fast.spectra is None
    assert full.metrics == METRICS and full.spectra is not None
    # Exact: both paths count on the same float64 Gram (or the same svdvals below GRAM_MIN_SIZE); they could
    # only differ for an eigenvalue within about N eps64 of the threshold, which these activations do not have.
    assert np.array_equal(fast.matrix("rank"), full.matrix("rank"), equal_nan=True)
