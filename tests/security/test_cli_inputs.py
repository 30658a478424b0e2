"""Ordinary bad command lines: each ends with exit 1 or 2 and one clear message, never exit 3.

Numbers are checked in one place for every command (adaptgraph/cli/number_flags.py), by type;
devices against the machine; a loss that is not a finite number stops training before
anything is saved as a finished run.
"""
from __future__ import annotations

import json
import os
import re

import pytest
import torch

from adaptgraph.cli import main
from adaptgraph.arguments import SEED_MAX, resolve_device
from adaptgraph.errors import UsageError
from adaptgraph.train import TrainConfig

PROBE = 'backbone "zoo:vit-tiny"\n'  # no edges: a linear probe, the cheapest training there is
TASK = "digits?per_class=6"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "probe.adapt"
    path.write_text(PROBE)
    return str(path)


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("option,value,message", [
    ("--seed", str(2**70), f"error: --seed: must be an integer from 0 to {SEED_MAX} (got 1180591620717411303424)"),
    ("--seed", "-1", f"error: --seed: must be an integer from 0 to {SEED_MAX} (got -1)"),
    ("--task-seed", str(2**64), f"error: --task-seed: must be an integer from 0 to {SEED_MAX} (got 18446744073709551616)"),
    ("--epochs", "0", "error: --epochs: must be an integer from 1 to 1000000000 (got 0)"),
    ("--batch-size", str(10**12), "error: --batch-size: must be an integer from 1 to 1000000000 (got 1000000000000)"),
    ("--lr", "nan", "error: --lr: must be a finite number (got nan)"),
    ("--lr", "inf", "error: --lr: must be a finite number (got inf)"),
    ("--lr", "0", "error: --lr: must be greater than 0 (got 0.0)"),
    ("--device", "tpu", "error: unknown device 'tpu'\n"
                        "    hint: use cpu, cuda, cuda:N or auto (CUDA when present, else the CPU)"),
])
def test_bad_numbers_and_devices_are_usage_errors(spec, capsys, option, value, message):
    code, err = _run(capsys, "train", spec, "--task", TASK, option, value)
    assert (code, err) == (2, message + "\n")


def test_every_bad_number_is_reported_at_once(capsys):
    code, err = _run(capsys, "search", "--backbone", "zoo:vit-tiny", "--task", TASK, "--seed", "-5",
                     "--population", "0", "--gamma", "nan")
    assert code == 2 and err.splitlines() == [
        "error: --gamma: must be a finite number (got nan)",
        "error: --population: must be an integer from 1 to 1000000000 (got 0)",
        f"error: --seed: must be an integer from 0 to {SEED_MAX} (got -5)"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
@pytest.mark.parametrize("command", ["train", "score"])
def test_cuda_without_a_gpu_is_a_clear_error(spec, capsys, command):
    code, err = _run(capsys, command, spec, "--task", TASK, "--device", "cuda")
    assert code == 2 and err.startswith("error: device 'cuda' is not available: torch sees no CUDA GPU")
    with pytest.raises(UsageError, match="is not available"):
        TrainConfig(device="cuda:1").resolved_device()


def test_a_cuda_index_past_the_last_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UsageError) as err:
        resolve_device("cuda:2")
    assert str(err.value).startswith("error: device 'cuda:2' does not exist: this machine has 2 CUDA devices "
                                     "(cuda:0 to cuda:1)")
    assert resolve_device("cuda:1") == torch.device("cuda:1")


def test_seed_bound_holds_for_the_python_api_too():
    with pytest.raises(ValueError, match="less than or equal to 4294967295"):
        TrainConfig(seed=2**70)


def test_a_diverging_loss_stops_training_and_saves_no_finished_run(spec, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _run(capsys, "train", spec, "--task", TASK, "--lr", "1e30", "--steps", "3", "--out", str(out),
                     "--no-progress")
    assert code == 1 and "internal error" not in err
    # 4 training examples a class, 32 a batch: the loss is NaN by the end of the first epoch (2 steps), in
    # training or, when the last step made the weights NaN, in validation
    assert re.match(r"error: training stopped at step 2: the (training|validation) loss of epoch 1 is nan \(not a "
                    r"finite number\), so nothing was saved as a finished run\n", err), err
    assert "try a smaller --lr" in err
    assert not (out / "metrics.json").exists()
    for log in out.glob("*.jsonl"):  # whatever was written is JSON without NaN
        for line in log.read_text().splitlines():
            json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in {log}"))


@pytest.mark.parametrize("case", ["a file", "under a file", "unwritable"])
def test_out_folders_that_cannot_be_written(spec, tmp_path, capsys, case):
    blocker = tmp_path / "blocker"
    blocker.write_text("a user's file\n")
    out = {"a file": blocker, "under a file": blocker / "run"}.get(case)
    if case == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "run"
    code, err = _run(capsys, "train", spec, "--task", TASK, "--steps", "1", "--out", str(out), "--no-progress")
    assert code == 1 and "internal error" not in err and str(out) in err and len(err.splitlines()) <= 2
    assert blocker.read_text() == "a user's file\n"
