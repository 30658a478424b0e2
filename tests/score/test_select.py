"""GGA and baseline selection on small hand-made score matrices."""
import numpy as np
import pytest
from pydantic import ValidationError

from adaptgraph.errors import ScoreError
from adaptgraph.score.edge_scores import EdgeScores, freeze_matrix
from adaptgraph.score.config import SelectConfig
from adaptgraph.score.select import candidates, choose, select
from adaptgraph.spec.api import dumps, loads

NAN = float("nan")


def pairs(chosen):
    return [(c.src_index, c.dst_index) for c in chosen]


def pick(matrix, k=None, **kw):
    budget = {key: kw.pop(key) for key in ("strategy", "gamma", "distance", "max_params", "seed") if key in kw}
    return pairs(choose(candidates(np.array(matrix, dtype=float), **kw), k, **budget))


SCORES = [[10, 9, 0],
          [0, 0, 0],
          [0, 0, 8]]


def test_discount_changes_the_choice_against_topk():
    assert pick(SCORES, 2, strategy="topk") == [(0, 0), (0, 1)]
    # after (0,0): (0,1) is at distance 1 -> 9 * 0.4 = 3.6; (2,2) at distance 4 -> 8 * (1 - 0.6**4) = 6.96
    assert pick(SCORES, 2, strategy="gga") == [(0, 0), (2, 2)]
    assert pick(SCORES, 2, strategy="gga", gamma=0.1) == [(0, 0), (0, 1)]  # 9 * 0.9 = 8.1 > 8 * 0.9999


def test_discount_accumulates_over_chosen_edges():
    m = [[10, 0, 0, 0], [9.5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 6]]
    # (1,0) is 1 away from (0,0): 9.5 * 0.4 = 3.8 < 6 * (1 - 0.6**6) = 5.72
    assert pick(m, 3, strategy="gga") == [(0, 0), (3, 3), (1, 0)]


@pytest.mark.parametrize("seed", range(5))
def test_gamma_zero_is_topk(seed):
    m = np.random.default_rng(seed).integers(0, 6, size=(6, 6)).astype(float)  # many ties
    for k in (1, 4, 12):
        assert pick(m, k, strategy="gga", gamma=0.0) == pick(m, k, strategy="topk")


def test_distance_is_configurable():
    far = lambda i, j, a, b: 100.0  # no discount anywhere -> top-k
    assert pick(SCORES, 2, strategy="gga", distance=far) == [(0, 0), (0, 1)]
    same_dst = lambda i, j, a, b: 1.0 if j == b else 100.0  # discount only edges into the same point
    m = [[10, 0], [9, 5]]
    assert pick(m, 2, strategy="gga") == [(0, 0), (1, 0)]  # 9 * 0.4 = 3.6 > 5 * (1 - 0.36) = 3.2
    assert pick(m, 2, strategy="gga", distance=same_dst) == [(0, 0), (1, 1)]  # 3.6 < 5


def test_first_last_follow_destination_then_source_order():
    ones = np.ones((3, 3))
    assert pick(ones, 4, strategy="first") == [(0, 0), (1, 0), (2, 0), (0, 1)]
    assert pick(ones, 2, strategy="last") == [(2, 2), (1, 2)]


def test_random_is_seeded():
    m = np.ones((5, 5))
    a, b, c = (pick(m, 6, strategy="random", seed=s) for s in (3, 3, 4))
    assert a == b and a != c and len(set(a)) == 6


def test_kind_restriction_excludes_recurrent():
    m = np.arange(16.0).reshape(4, 4)[::-1]  # largest scores below the diagonal
    chosen = choose(candidates(m, kinds=("sequential", "parallel", "longrange")), 3, strategy="topk")
    assert all(c.dst_index >= c.src_index for c in chosen)
    assert {c.kind for c in choose(candidates(m, kinds=["recurrent"]), 6, strategy="topk")} == {"recurrent"}
    with pytest.raises(ScoreError, match="unknown edge kind 'recurent'") as e:
        candidates(m, kinds=["recurent"])
    assert "did you mean 'recurrent'" in str(e.value)


def test_unscored_pairs_are_never_chosen():
    m = [[NAN, 1.0], [NAN, NAN]]
    assert pick(m, 1, strategy="last") == [(0, 1)]
    with pytest.raises(ScoreError, match="asked for 2 edges but only 1 candidate"):
        pick(m, 2)


def test_parameter_budget_is_respected():
    widths = [4, 16, 4]  # rank 2 with biases: params(i, j) = 2 (d_i + d_j) + 2 + d_j
    m = [[1, 9, 1], [1, 8, 1], [7, 1, 1]]
    cands = candidates(np.array(m, float), widths=widths, rank=2)
    assert int(cands.params[0, 1]) == 2 * 20 + 18 and int(cands.params[2, 0]) == 16 + 6
    chosen = choose(cands, strategy="topk", max_params=80)
    assert pairs(chosen) == [(0, 1), (2, 0)]  # (1,1) would not fit after (0,1): 58 + 82 > 80
    assert sum(c.params for c in chosen) <= 80
    chosen = choose(cands, 1, strategy="gga", max_params=1000)
    assert len(chosen) == 1  # k binds first
    with pytest.raises(ScoreError, match="needs the point widths"):
        choose(candidates(np.array(m, float)), max_params=10)


def test_budget_and_strategy_errors():
    c = candidates(np.ones((2, 2)))
    with pytest.raises(ScoreError, match="no budget"):
        choose(c)
    with pytest.raises(ScoreError, match="unknown selection strategy 'top'") as e:
        choose(c, 1, strategy="top")
    assert "did you mean 'topk'" in str(e.value)
    with pytest.raises(ScoreError, match=r"gamma must be in \[0, 1\)"):
        choose(c, 1, gamma=1.5)


def edge_scores(matrix, widths):
    n = len(widths)
    m = freeze_matrix(np.array(matrix, float))
    return EdgeScores(points=tuple(f"@{k}" for k in range(n)), nodes=tuple(f"n{k}" for k in range(n)),
                      orders=tuple(range(n)), shapes=((2, 3, 4),) * n, feature_dims=(-1,) * n,
                      widths=tuple(widths), tokens=(6,) * n, rank=m, erank=m, fro=m, nuclear=m,
                      backbone="zoo:vit-tiny", stream="blocks")


def test_select_returns_a_printable_spec():
    spec = select(edge_scores(SCORES, [4, 4, 4]), SelectConfig(k=2, rank=4, name="gga2"))
    assert [(e.src, e.dst) for e in spec.edges] == [("@0", "@0"), ("@2", "@2")]
    assert spec.backbone == "zoo:vit-tiny" and spec.stream == "blocks" and spec.defaults.rank == 4
    text = dumps(spec)
    assert "edge @0 -> @0" in text and loads(text) == spec
    assert select(SCORES, SelectConfig(k=1, strategy="topk", bias=False), points=["a.in", "a.out", "b.out"]).defaults.bias is False


def test_invalid_spec_fields_are_score_errors():
    with pytest.raises(ScoreError, match="does not make a valid spec"):
        select(SCORES, SelectConfig(k=1, name="not a name"))
    with pytest.raises(ValidationError, match="rank"):  # out of the config's bounds
        SelectConfig(k=1, rank=0)
    with pytest.raises(ValidationError, match="Extra inputs"):  # a typo is no silent default
        SelectConfig(k=1, gama=0.5)
