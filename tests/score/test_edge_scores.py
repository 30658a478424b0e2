"""EdgeScores: JSON round trip, atomic save, kinds, heat map."""
import json
import math

import numpy as np
import pytest

from adaptgraph.errors import ScoreError
from adaptgraph.score.edge_scores import EdgeScores, freeze_matrix


def make_scores(n=4, rtol=None, points=None):
    rng = np.random.default_rng(0)
    rank = rng.integers(0, 9, size=(n, n)).astype(float)
    rank[0, n - 1] = np.nan  # a pair that cannot be an edge
    return EdgeScores(
        points=tuple(points or (f"@{k}" for k in range(n))), nodes=tuple(f"add_{k}" for k in range(n)),
        orders=tuple(range(10, 10 + 3 * n, 3)), shapes=((2, 5, 8),) * n, feature_dims=(-1,) * n,
        widths=(8,) * n, tokens=(10,) * n, rank=freeze_matrix(rank),
        erank=freeze_matrix(rng.random((n, n)) * 3.1), fro=freeze_matrix(rng.random((n, n)) / 7),
        nuclear=freeze_matrix(rng.random((n, n)) * 1e-9), rtol=rtol, batches=2, head="probe",
        task="wordnet:noun8", backbone="zoo:vit-tiny", timings=(("probe", 0.125), ("spectra", 1 / 3)),
    )


def test_json_round_trip_is_exact():
    s = make_scores(rtol=1e-3)
    back = EdgeScores.from_json(s.to_json())
    assert back == s and back.fro[1][2] == s.fro[1][2] and back.timings[1][1] == 1 / 3
    assert back.rank[0][3] is None and math.isnan(back.matrix("rank")[0, 3])
    assert json.loads(s.to_json())["format"] == "adaptgraph.edge_scores"


def test_save_is_atomic_and_loads_back(tmp_path):
    s = make_scores()
    path = s.save(tmp_path / "out" / "scores.json")
    assert EdgeScores.load(path) == s
    assert [p.name for p in path.parent.iterdir()] == ["scores.json"]  # no temporary left behind


def test_bad_documents_are_score_errors(tmp_path):
    with pytest.raises(ScoreError, match="not an EdgeScores document"):
        EdgeScores.from_json('{"a": 1}')
    with pytest.raises(ScoreError, match="not valid JSON"):
        EdgeScores.from_json("{")
    doc = make_scores().to_dict()
    doc["rnak"] = doc.pop("rank")
    with pytest.raises(ScoreError, match="unknown EdgeScores field 'rnak'") as e:
        EdgeScores.from_dict(doc)
    assert "did you mean 'rank'" in str(e.value)
    with pytest.raises(ScoreError, match="cannot read scores file"):
        EdgeScores.load(tmp_path / "missing.json")
    with pytest.raises(ScoreError, match="must be a 4 x 4 matrix"):
        EdgeScores(**{**make_scores().__dict__, "fro": ((1.0,),)})
    with pytest.raises(ScoreError, match="unknown metric 'rnak'"):
        make_scores().matrix("rnak")


def test_kinds_from_points_and_order():
    s = make_scores()
    assert [s.kind(1, j) for j in range(4)] == ["recurrent", "sequential", "parallel", "longrange"]


def test_params_count_down_up_and_biases():
    s = EdgeScores(**{**make_scores().__dict__, "widths": (8, 4, 6, 8)})
    assert s.params(1, 2, rank=2) == 2 * (4 + 6) + 2 + 6
    assert s.params(1, 2, rank=2, bias=False) == 20


def test_heatmap_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    s = make_scores(n=5, points=("@0", "blocks.0.in", "blocks.0.out", "@2", "%add_9"))
    for metric in ("rank", "fro"):
        path = s.heatmap(tmp_path / f"{metric}.png", metric=metric)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with pytest.raises(ScoreError, match="unknown metric"):
        s.heatmap(tmp_path / "x.png", metric="l2")
