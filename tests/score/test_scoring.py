"""score_edges end to end on zoo backbones, and the linear-probe head."""
import warnings

import pytest
import torch
from pydantic import ValidationError

from adaptgraph.backbones import load_backbone
from adaptgraph.errors import ScoreError
from adaptgraph.graph import trace
from adaptgraph.score.config import METRICS, ScoreConfig
from adaptgraph.score.edge_scores import EdgeScores
from adaptgraph.score.metrics import RankSaturationWarning
from adaptgraph.score.scoring import score_edges
from adaptgraph.tasks import SplitTask, fit_probe, load_task, make_head, make_loader

WORDS = ["red green blue", "a small cat sat", "dogs run far and fast today", "one", "two three",
         "the quick brown fox jumps", "seven eight nine ten eleven", "hello"]
TEXT_TASK = SplitTask("toy-text", ("a", "b"), "text",
                      (tuple((w, k % 2) for k, w in enumerate(WORDS)), (), ()))  # needs no WordNet files


@pytest.fixture(scope="module")
def vit():
    return load_backbone("zoo:vit-tiny")


@pytest.fixture(scope="module")
def bert():
    return load_backbone("zoo:bert-tiny")


_TRACES = {}


def quiet_score(bb, task, **kw):
    """score_edges without progress bars or saturation warnings, tracing each backbone once."""
    if bb.ref not in _TRACES:
        _TRACES[bb.ref] = trace(bb.module, bb.example_inputs, frontend=bb.frontend, leaf_modules=bb.leaf_modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankSaturationWarning)
        return score_edges(bb, task, ScoreConfig(**kw), progress=False, traced=_TRACES[bb.ref])


def test_image_backbone_all_stream_edges(vit, tmp_path):
    s = quiet_score(vit, "digits", batches=2, batch_size=3, head="random")
    n = len(s.points)
    assert s.points == tuple(f"@{k}" for k in range(n)) and n == 9
    assert s.tokens == (2 * 3 * 17,) * n and s.batches == 2 and s.widths == (64,) * n
    rank = s.matrix("rank")
    assert rank.shape == (n, n) and (rank >= 1).all() and (rank <= 64).all()
    assert (s.matrix("erank") <= rank + 1e-9).all() and (s.matrix("fro") > 0).all()
    assert [k for k, _ in s.timings] == ["trace", "head", "probe", "spectra", "fro", "total"]
    assert all(seconds >= 0 for _, seconds in s.timings)
    assert s.backbone == "zoo:vit-tiny" and s.task == "digits" and s.head == "random"
    assert EdgeScores.load(s.save(tmp_path / "scores.json")) == s


def test_text_backbone_drops_padding_tokens(bert):
    s = quiet_score(bert, TEXT_TASK, batches=2, batch_size=4, head="random", seed=1)
    loader = make_loader(TEXT_TASK.examples("train"), bert, batch_size=4, max_length=64, shuffle=True, seed=1)
    batches = [b for _, b in zip(range(2), loader)]
    real = sum(int(b.attention_mask.sum()) for b in batches)
    padded = sum(b.attention_mask.numel() for b in batches)
    assert real < padded and s.tokens == (real,) * len(s.points) and s.task == "toy-text"


def test_user_points_are_deduplicated_and_ordered(vit):
    s = quiet_score(vit, "digits", points=["blocks.1.out", "@2", "@0", "@2", "blocks.0.out"], batches=1,
                    batch_size=2, head="random")
    assert s.points == ("@0", "@2", "blocks.0.out", "blocks.1.out") and s.stream is None
    assert list(s.orders) == sorted(s.orders)
    assert s.nodes[1] == s.nodes[2] and s.kind(1, 2) == "sequential"  # two names of block 0's output
    assert s.kind(2, 3) == "longrange" and s.kind(3, 0) == "recurrent"


def test_probe_head_is_fitted_and_scores_differ_from_random(vit):
    a = quiet_score(vit, "digits", batches=1, batch_size=4, head="probe", probe_examples=32, probe_steps=20)
    b = quiet_score(vit, "digits", batches=1, batch_size=4, head="random")
    assert a.head == "probe" and a.fro != b.fro


def test_fit_probe_lowers_the_loss(vit):
    task = load_task("digits")
    loader = make_loader(task.examples("train")[:32], vit, batch_size=16, max_length=8, shuffle=False)
    with torch.no_grad():
        features = vit.module(*next(iter(loader)).inputs)
    head = make_head(features, task.num_classes, "auto", seed=0)
    first = fit_probe(head, vit.module, loader, steps=1)
    assert fit_probe(head, vit.module, loader, steps=30) < first


def test_bad_settings_are_score_errors(vit):
    with pytest.raises(ScoreError, match="unknown head mode 'prob'") as e:
        quiet_score(vit, "digits", head="prob")
    assert "did you mean 'probe'" in str(e.value)
    with pytest.raises(ValidationError, match="batches"):
        quiet_score(vit, "digits", batches=0)


class RecordsMoves(torch.nn.Linear):
    def __init__(self):
        super().__init__(2, 2)
        self.moves = []

    def to(self, device):
        self.moves.append(str(device))
        return self


def test_the_scored_backbone_goes_back_to_its_device_even_on_error():
    # get_backbone shares one backbone between scoring and compiling: scoring on a GPU must not leave it there
    from adaptgraph.score.scoring import _moved

    module = RecordsMoves()
    with pytest.raises(ScoreError), _moved(module, torch.device("cuda")):
        raise ScoreError("fails while scoring")
    assert module.moves == ["cuda", "cpu"]


def test_rank_and_fro_alone_skip_the_spectra_and_score_the_same(vit, tmp_path):
    full = quiet_score(vit, "digits", batches=2, batch_size=3, head="random")
    ranks = quiet_score(vit, "digits", batches=2, batch_size=3, head="random", metrics=("rank",))
    both = quiet_score(vit, "digits", batches=2, batch_size=3, head="random", metrics=("fro", "rank", "fro"))
    assert [k for k, _ in ranks.timings] == ["trace", "head", "probe", "rank", "total"]
    assert [k for k, _ in both.timings] == ["trace", "head", "probe", "rank", "fro", "total"]
    assert ranks.metrics == ("rank",) and both.metrics == ("rank", "fro") and full.metrics == METRICS
    assert ranks.rank == both.rank == full.rank and both.fro == full.fro
    assert ranks.spectra is None and full.spectra is not None
    with pytest.raises(ScoreError, match="hold no 'erank' scores, only rank") as e:
        ranks.matrix("erank")
    assert "--metrics rank erank" in str(e.value)
    assert EdgeScores.load(ranks.save(tmp_path / "scores.json")) == ranks


def test_rank_only_scoring_warns_on_saturation_as_the_spectra_do(vit):
    config = ScoreConfig(batches=1, batch_size=2, head="random", rtol=0.0, points=("@0", "@4"), metrics=("rank",))
    with pytest.warns(RankSaturationWarning, match="number of tokens"):
        s = score_edges(vit, "digits", config, progress=False)
    assert s.matrix("rank").tolist() == [[34.0, 34.0], [34.0, 34.0]]


def test_unknown_or_no_metrics_are_refused(vit):
    with pytest.raises(ScoreError, match="unknown metric 'rnak'"):
        quiet_score(vit, "digits", batches=1, batch_size=2, head="random", metrics=("rank", "rnak"))
    with pytest.raises(ValidationError, match="metrics"):
        ScoreConfig(metrics=())


def test_non_finite_activations_are_named_not_a_linear_algebra_failure():
    bb = load_backbone("zoo:vit-tiny")  # a copy of its own: one weight is damaged below
    traced = trace(bb.module, bb.example_inputs, frontend=bb.frontend, leaf_modules=bb.leaf_modules)
    late = [p for name, p in bb.module.named_parameters() if p.dim() == 2][-3]
    with torch.no_grad():  # after tracing (the trace shares the weights): the damage shows while probing
        late[0, 0] = float("inf")
    with pytest.raises(ScoreError) as e:
        score_edges(bb, "digits", ScoreConfig(batches=1, batch_size=2, head="random"), progress=False, traced=traced)
    text = str(e.value)
    assert "of batch 1 are not finite (inf or NaN) at @" in text and "float32" in text
