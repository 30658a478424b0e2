"""The verdict rules of the paper report on hand-made CSV rows: each rule can say holds, partly and no."""
from __future__ import annotations

from benchmarks.paper import verdicts as v


def _runs(task, key, label, accs, **extra):
    return [{"task": task, key: label, "seed": n, "test_acc": str(a), **extra} for n, a in enumerate(accs)]


def test_random_placements_hold_only_beyond_the_baseline_seed_spread():
    rows = _runs("a", "role", "baseline", [0.60, 0.62, 0.61], recurrent="0")
    clear = rows + _runs("a", "role", "random", [0.66, 0.65, 0.67, 0.64], recurrent="3")
    assert v.claim2_task(clear, "a")[0].word == v.HOLDS
    within = rows + _runs("a", "role", "random", [0.63, 0.61, 0.60, 0.62], recurrent="3")
    verdict, rand, base, above = v.claim2_task(within, "a")
    assert verdict.word == v.PARTLY and above == 0.25  # +0.5 pp is inside the 2 pp spread; 1 of 4 beats 62
    below = rows + _runs("a", "role", "random", [0.50, 0.52, 0.55, 0.58], recurrent="3")
    assert v.claim2_task(below, "a")[0].word == v.NOT
    assert v.combine([v.Verdict(v.HOLDS, ""), v.Verdict(v.NOT, "")]) == v.PARTLY
    assert v.combine([v.Verdict(v.UNMEASURED, "")]) == v.UNMEASURED


def test_gga_matches_within_the_larger_seed_spread():
    base = _runs("a", "method", "baseline", [0.70, 0.72, 0.71], k="12")
    gga = (_runs("a", "method", "gga", [0.68, 0.69, 0.70], k="2")  # mean 69: 71 - 2 = 69, matches
           + _runs("a", "method", "gga", [0.60, 0.61, 0.60], k="1"))
    assert v.matches(base + gga, "a", 2) is True
    assert v.matches(base + gga, "a", 1) is False
    assert v.claim4(base + gga, ["a"], [1, 2]).word == v.HOLDS
    late = base + _runs("a", "method", "gga", [0.60, 0.61, 0.60], k="2") + _runs("a", "method", "gga",
                                                                                   [0.71, 0.71, 0.72], k="6")
    assert v.claim4(late, ["a"], [2, 6]).word == v.PARTLY
    assert v.claim4(base + _runs("a", "method", "gga", [0.5, 0.5, 0.51], k="4"), ["a"], [4]).word == v.NOT


def test_rank_prediction_needs_both_signs_and_significance():
    def corr(rho_acc, p_acc, rho_loss, p_loss):
        return [{"task": "a", "metric": "rank", "target": "val_acc", "rho": str(rho_acc), "p": str(p_acc)},
                {"task": "a", "metric": "rank", "target": "train_loss", "rho": str(rho_loss), "p": str(p_loss)}]

    assert v.claim3_task(corr(0.6, 0.001, -0.5, 0.001), "a").word == v.HOLDS
    assert v.claim3_task(corr(0.6, 0.001, -0.1, 0.4), "a").word == v.PARTLY
    assert v.claim3_task(corr(-0.6, 0.001, 0.5, 0.001), "a").word == v.NOT
    assert v.claim3_task(corr("", "", "", ""), "a").word == v.UNMEASURED


def test_placement_matters_needs_a_gap_beyond_the_seed_spread():
    def retrain(best, worst):
        return (_runs("a", "role", "best", best) + _runs("a", "role", "worst", worst)
                + _runs("a", "role", "probe", [0.5, 0.5, 0.5]))

    assert v.claim1([], retrain([0.70, 0.71, 0.72], [0.60, 0.61, 0.62]), ["a"]).word == v.PARTLY  # one task
    assert v.claim1([], retrain([0.70, 0.60, 0.72], [0.60, 0.61, 0.62]), ["a"]).word == v.NOT


def test_task_dependence_needs_weakly_correlated_maps_above_seed_noise():
    def sweep(task, accs, noise):
        rows = [{"task": task, "role": "edge", "src": str(i), "dst": str(i), "edges": f"@{i}->@{i}",
                 "val_acc": str(a), "val_loss": "1.0"} for i, a in enumerate(accs)]
        return rows + [{"task": task, "role": "probe", "val_acc": str(0.5 + d)} for d in (-noise, 0.0, noise)]

    retrain = [{"task": t, "role": role, "seed": n, "test_acc": str(acc + n * 0.001)}
               for t in "ab" for role, acc in (("best", 0.8), ("worst", 0.6), ("probe", 0.5)) for n in range(3)]
    rising, falling = [0.5 + 0.05 * i for i in range(6)], [0.75 - 0.05 * i for i in range(6)]
    opposite = sweep("a", rising, 0.01) + sweep("b", falling, 0.01)
    assert v.claim1(opposite, retrain, ["a", "b"]).word == v.HOLDS
    same = sweep("a", rising, 0.01) + sweep("b", rising, 0.01)
    assert v.claim1(same, retrain, ["a", "b"]).word == v.PARTLY  # placement matters, but not by task
    noisy = sweep("a", rising, 0.3) + sweep("b", falling, 0.3)
    verdict = v.claim1(noisy, retrain, ["a", "b"])
    assert verdict.word == v.PARTLY and "do not rise above seed noise" in verdict.why
