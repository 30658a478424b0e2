"""`py:` backbones in a search: refused without trust, trained in every trial with it (search, CLI, one trial)."""
import itertools
import json
import sys
import textwrap

import pytest

from adaptgraph.cli import main
from adaptgraph.errors import BackboneError
from adaptgraph.searcher import Fidelity, SearchConfig, search
from adaptgraph.searcher.trial import TrialTask, run_trial

pytest.importorskip("sklearn")  # the digits task

SOURCE = '''
import torch
from torch import nn

example_inputs = (torch.ones(2, 3, 8, 8),)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return x + torch.relu(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.ModuleList([Block() for _ in range(2)])

    def forward(self, pixels):
        x = self.stem(pixels)
        for block in self.blocks:
            x = block(x)
        return x


def build():
    return Net()
'''
_counter = itertools.count()
REFUSED = "so it is refused without trust"


@pytest.fixture
def backbone_ref(tmp_path, monkeypatch):
    """``py:MODULE:build`` for a fresh module (a unique name, so nothing comes from an earlier test's import)."""
    name = f"adaptgraph_search_factory_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"py:{name}:build"
    sys.modules.pop(name, None)


def _search_args(ref, out, *more) -> list[str]:
    return ["search", "--task", "digits", "--backbone", ref, "--strategy", "single", "--trials", "2",
            "--fidelity-steps", "2", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--final", "best",
            "--out", str(out), *more]


def test_search_refuses_a_py_backbone_without_trust(backbone_ref):
    with pytest.raises(BackboneError, match=REFUSED):
        search("digits", backbone_ref, SearchConfig(strategy="single", trials=1, fidelity=Fidelity(steps=1)),
               progress=False)


def test_a_trial_refuses_a_py_backbone_without_trust_and_runs_it_with_trust(backbone_ref):
    task = dict(trial=0, stage="search", spec_text="spec one\nedge @0 -> @1\n", task="digits", task_seed=0,
                backbone=backbone_ref, config={"steps": 1, "batch_size": 8, "device": "cpu", "seed": 0})
    refused = run_trial(TrialTask(**task)).outcome
    assert refused.status == "failed" and REFUSED in refused.error
    trusted = run_trial(TrialTask(**task, trust_code=True)).outcome
    assert trusted.ok and trusted.steps == 1, trusted.error


@pytest.mark.slow
def test_cli_search_with_trust_code_trains_every_trial(backbone_ref, tmp_path, capsys):
    assert main(_search_args(backbone_ref, tmp_path / "refused")) == 1
    assert REFUSED in capsys.readouterr().err
    assert main(_search_args(backbone_ref, tmp_path / "run", "--trust-code", "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert [t["status"] for t in result["trials"]] == ["ok", "ok"] and result["best"]["test_accuracy"] is not None
