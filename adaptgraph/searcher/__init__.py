"""Search over specs: propose placements, train them briefly, keep the best.

Typical use::

    from adaptgraph.searcher import Budget, Fidelity, SearchConfig, search
    config = SearchConfig(strategy="gga", budget=Budget(adapters=(2, 4)), fidelity=Fidelity(steps=100))
    result = search("wordnet:noun?per_class=100", "hf:minilm", config, out="runs/gga")
    print(result.best.spec_text, result.best.test_accuracy)

Pieces: ``space`` (stream-point edges, budget, genomes <-> specs), ``mutations``,
``strategies`` (single, random, gga, evolve), ``hyperband`` (multi-fidelity, Optuna), ``nsga2``
(multi-objective, Optuna's NSGA-II),
``searcher`` (ask/tell),
``trial`` (one trial as a pure function), ``executors`` / ``ray_executor``,
``config`` (``SearchConfig``: every option), ``journal`` (manifest and append-only journal), ``run`` (the ``search`` driver),
``result`` / ``outputs`` / ``plot`` (what a search reports).
"""

from .config import LocalExecution, ProcessExecution, RayExecution, SearchConfig, search_config
from .journal import read_journal
from .executors import EXECUTORS, LocalExecutor, ProcessExecutor
from .hyperband import Hyperband
from .mutations import MUTATIONS
from .nsga2 import NSGA2
from .records import Candidate, TrialOutcome, TrialRecord
from .result import SearchResult, TrialSummary, pareto_front
from .run import search
from .searcher import Searcher
from .settings import Fidelity, Scoring
from .space import Budget, Gene, SearchSpace, baseline_genome
from .strategies import GGA, STRATEGIES, Evolve, RandomPlacement, Single, make_strategy
from .trial import TrialTask, run_trial, threads_set

__all__ = ["EXECUTORS", "GGA", "MUTATIONS", "NSGA2", "STRATEGIES", "Budget", "Candidate", "Evolve", "Fidelity", "Gene",
           "Hyperband", "LocalExecution", "LocalExecutor", "ProcessExecution", "ProcessExecutor", "RandomPlacement",
           "RayExecution", "Scoring", "SearchConfig", "SearchResult", "SearchSpace", "Searcher", "Single", "TrialOutcome",
           "TrialRecord", "TrialSummary", "TrialTask", "baseline_genome", "make_strategy", "pareto_front",
           "read_journal", "run_trial", "search", "search_config", "threads_set"]
