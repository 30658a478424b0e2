import json

import pytest
import torch
from torch import nn
from train_fixtures import TinyImageModel, TinyTextModel

from adaptgraph.errors import TaskError, UsageError
from adaptgraph.train import TrainConfig, train_config
from adaptgraph.train.files import prepare_run_dir
from adaptgraph.train.files import write_json
from adaptgraph.train.state import load_trainable_state, set_train_mode
from adaptgraph.weights.trainable import trainable_state


def test_finished_run_folder_is_refused_unless_overwrite(tmp_path):
    prepare_run_dir(tmp_path / "run")
    write_json(tmp_path / "run" / "metrics.json", {})
    (tmp_path / "run" / "log.jsonl").write_text("{}\n")
    with pytest.raises(TaskError) as e:
        prepare_run_dir(tmp_path / "run")
    assert str(e.value) == (f"error: {tmp_path / 'run'} already holds a finished run (metrics.json exists)\n"
                            "    hint: choose another --out folder or pass --overwrite")
    prepare_run_dir(tmp_path / "run", overwrite=True)
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "log.jsonl").exists()


def test_config_defaults_and_errors():
    config = TrainConfig()
    assert config.num_epochs == 3 and TrainConfig(steps=5).num_epochs is None
    assert config.fingerprint() == TrainConfig().fingerprint() != TrainConfig(lr=0.01).fingerprint()
    assert train_config(lr=None, epochs=2) == TrainConfig(epochs=2)
    with pytest.raises(UsageError) as e:
        train_config(lr=-1, bogus=1)
    assert str(e.value) == ("error: lr: Input should be greater than 0 (got -1)\n"
                            "error: bogus: Extra inputs are not permitted (got 1)")
    with pytest.raises(UsageError) as e:
        train_config(epochs=2, steps=3)
    assert str(e.value) == "error: config: give epochs (2) or steps (3), not both"
    with pytest.raises(UsageError) as e:
        train_config(device="cpu", amp="bf16")
    assert str(e.value) == "error: config: amp 'bf16' needs a CUDA device, but device is 'cpu'"
    with pytest.raises(UsageError) as e:
        train_config(device="gpu")
    assert str(e.value) == "error: config: device 'gpu' is not one of auto, cpu, cuda, cuda:N"
    with pytest.raises(Exception):
        config.lr = 1.0  # frozen


def test_trainable_state_round_trip_and_mismatch():
    torch.manual_seed(0)
    a, b = TinyTextModel(), TinyTextModel()
    state = trainable_state(a)
    assert sorted(state) == ["adapter.0.bias", "adapter.0.weight", "adapter.2.bias", "adapter.2.weight"]
    load_trainable_state(b, state)
    assert all(torch.equal(p, state[n]) for n, p in b.named_parameters() if p.requires_grad)
    assert not torch.equal(a.embed.weight, b.embed.weight)  # frozen parameters are not part of the state
    with pytest.raises(TaskError) as e:
        load_trainable_state(TinyImageModel(), state)
    assert str(e.value) == ("error: the saved state does not fit the model: it lacks adapter.bias\n"
                            "    hint: load the state into the model it was trained with (same spec and backbone)")


def test_train_mode_only_for_fully_trainable_modules():
    model = TinyImageModel()
    set_train_mode(model)
    assert not model.training and not model.stem[1].training  # frozen batch norm keeps its statistics
    assert model.adapter.training
    text = TinyTextModel()
    set_train_mode(text)
    assert text.adapter[1].training and not text.embed.training
    everything = nn.Linear(2, 2)
    set_train_mode(everything)
    assert everything.training


def test_buffers_of_training_modules_belong_to_the_state():
    model = TinyImageModel()
    model.stem[1].requires_grad_(True)  # a spec's `train stem.1`: a trainable batch norm
    state = trainable_state(model)
    assert {"stem.1.running_mean", "stem.1.running_var", "stem.1.num_batches_tracked", "stem.1.weight"} <= set(state)
    assert "stem.0.weight" not in state
    set_train_mode(model)
    assert model.stem[1].training and not model.stem[0].training
    model(torch.rand(4, 3, 6, 6))  # updates the running statistics
    assert not torch.equal(model.stem[1].running_mean, state["stem.1.running_mean"])
    load_trainable_state(model, state)
    assert torch.equal(model.stem[1].running_mean, state["stem.1.running_mean"])
