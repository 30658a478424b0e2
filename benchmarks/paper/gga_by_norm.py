"""A check added after claim 3's data: GGA on the Frobenius norm of the gradient instead of its rank.

On MiniLM the gradient's numerical rank correlated *positively* with the sweep's training
loss (the reproducible map), the Frobenius norm negatively. If that is real, GGA picking by
the norm should train better adapters than GGA picking by rank. This trains the GGA pick of
k edges on the ``fro`` scores (same scores, same greedy rule, gamma 0.6) with every seed
for --steps, tested, to set beside experiment 4's rank-based GGA and the baseline. It is
reported as a post-hoc check, outside the claim-4 rule.

    python -m benchmarks.paper.gga_by_norm --ks 1 2 4      # after rank_predicts.py, same flags

Writes to --results: gga_by_norm.csv (gga_vs_baseline.py's columns, method ``gga_fro``).
Resumable: finished runs are read back.
"""
from __future__ import annotations

import time
from typing import Optional, Sequence

from . import common, gga_vs_baseline, placements

EXPERIMENT, METRIC, METHOD = "gga_by_norm", "fro", "gga_fro"


def main(argv: Optional[Sequence[str]] = None) -> None:
    started = time.perf_counter()
    s = common.parse(__doc__, argv)
    rows = []
    for task in s.tasks:
        scores = placements.scores_for(s, task)
        todo = [(METHOD, k, placements.chosen(s, scores, k, "gga", label=f"{METHOD}_k{k}", metric=METRIC), seed)
                for k in s.ks for seed in s.seeds]
        rows += gga_vs_baseline.compare(s, task, todo, what=f"gga by {METRIC}")
        common.write_csv(s.results / f"{EXPERIMENT}.csv", rows, gga_vs_baseline.COLUMNS)
    common.write_meta(s, EXPERIMENT, EXPERIMENT, argv, started, metric=METRIC)


if __name__ == "__main__":
    main()
