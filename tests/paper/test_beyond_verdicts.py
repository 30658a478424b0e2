"""The rules of "Beyond the paper" on hand-made rows: each can answer yes, partly and no."""
from __future__ import annotations

from benchmarks.paper import beyond_verdicts as b
from benchmarks.paper.verdicts import HOLDS, NOT, UNMEASURED

TASKS, KS = ("a", "c"), (2, 4, 6)


def runs(task, method, accs, k, init="zero", ranks="equal", params=1000):
    return [{"task": task, "method": method, "init": init, "ranks": ranks, "k": str(k), "seed": str(n),
             "test_acc": str(acc), "params": str(params * k)} for n, acc in enumerate(accs)]


def reference(task, k, accs=(0.60, 0.61, 0.62)):
    return runs(task, "random", accs, k)


def test_a_variant_beats_random_only_beyond_the_larger_seed_spread():
    rows = [r for t in TASKS for k in KS for r in reference(t, k)]
    clear = rows + [r for t in TASKS for k in KS for r in runs(t, "gga_fro", [0.66, 0.65, 0.67], k, init="grad")]
    answer, per = b.any_beats_random(clear, TASKS, KS)
    assert answer == "yes" and per[("gga_fro", "grad", "equal")].word == HOLDS
    # +2 pp but inside a 4 pp spread at every k: no
    noisy = rows + [r for t in TASKS for k in KS for r in runs(t, "gga_rank", [0.60, 0.64, 0.65], k)]
    assert b.any_beats_random(noisy, TASKS, KS)[0] == "no"
    # clear at one (task, k) only: partly
    one = rows + runs("a", "gga_rank", [0.70, 0.70, 0.71], 2) + [
        r for t, k in [("a", 4), ("a", 6), ("c", 2), ("c", 4), ("c", 6)] for r in runs(t, "gga_rank", [0.6] * 3, k)]
    assert b.any_beats_random(one, TASKS, KS)[0] == "partly"
    assert b.any_beats_random(rows, TASKS, KS)[0] == UNMEASURED  # the reference alone compares nothing


def test_fewest_parameters_that_match_the_baseline():
    base = [r for t in TASKS for r in runs(t, "baseline", [0.70, 0.71, 0.72], 12)]
    rows = base + [r for t in TASKS for r in runs(t, "gga_rank", [0.69, 0.70, 0.70], 4)]  # 69.7 >= 71 - 2
    rows += [r for t in TASKS for r in runs(t, "gga_rank", [0.60, 0.61, 0.60], 2)]
    rows += [r for t in TASKS for r in runs(t, "random", [0.70, 0.71, 0.70], 6)]
    v = b.fewest_matching(rows, TASKS, KS)
    assert v.word == HOLDS and v.why.startswith("gga_rank (default init, equal ranks) at k = 4 (4,000")
    assert b.fewest_matching(base + [r for t in TASKS for r in runs(t, "gga_rank", [0.5] * 3, 4)], TASKS, KS
                             ).word == NOT


def test_init_and_allocation_effects_count_each_direction():
    rows = []
    for k, (zero, grad) in zip(KS, [([0.60, 0.61, 0.60], [0.66, 0.66, 0.67]),   # better
                                    ([0.60, 0.61, 0.60], [0.60, 0.62, 0.61]),   # same
                                    ([0.66, 0.66, 0.67], [0.60, 0.61, 0.60])]):  # worse
        rows += runs("a", "gga_rank", zero, k) + runs("a", "gga_rank", grad, k, init="grad")
    assert b.effects(rows, ["a"], KS, "init") == {"better": 1, "same": 1, "worse": 1}
    assert b.effects(rows, ["a"], KS, "ranks") == {"better": 0, "same": 0, "worse": 0}
    assert b.versus_random(rows, ("gga_rank", "zero", "equal"), ["a"], KS).word == UNMEASURED
