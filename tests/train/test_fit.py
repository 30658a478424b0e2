import json

import pytest
import torch
from torch import nn
from train_fixtures import IMAGE_BACKBONE, TEXT_BACKBONE, TinyImageModel, TinyTextModel, synthetic_rows, write_csv

from adaptgraph.errors import TaskError
from adaptgraph.tasks import SplitTask, load_head, load_task
from adaptgraph.train import RunOutput, TrainConfig, check_same_task, evaluate, fit
from adaptgraph.train.state import load_trainable_state

CONFIG = TrainConfig(epochs=3, lr=0.05, batch_size=8, device="cpu")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("data") / "d.csv", synthetic_rows(40))
    return load_task(f"csv:{path}")


def model(seed=0):
    torch.manual_seed(seed)
    return TinyTextModel()


def without_timing(metrics):
    return {k: v for k, v in metrics.items() if k != "timing"}


def test_training_lowers_the_loss(task):
    result = fit(model(), TEXT_BACKBONE, task, CONFIG)
    losses = [r["train_loss"] for r in result.log]
    assert losses[-1] < losses[0] - 0.1
    assert result.log[-1]["validation"]["loss"] < result.log[0]["validation"]["loss"]
    assert result.metrics["steps"] == 36 and result.metrics["epochs"] == 3
    assert result.metrics["trainable_parameters"] == {"model": 148, "head": 51, "total": 199}


def test_same_seed_same_metrics_other_seed_other_metrics(task):
    a = fit(model(), TEXT_BACKBONE, task, CONFIG)
    b = fit(model(), TEXT_BACKBONE, task, CONFIG)
    c = fit(model(), TEXT_BACKBONE, task, CONFIG.model_copy(update={"seed": 1}))
    assert without_timing(a.metrics) == without_timing(b.metrics)
    assert [r["train_loss"] for r in a.log] == [r["train_loss"] for r in b.log]
    assert all(torch.equal(a.best_state[k], b.best_state[k]) for k in a.best_state)
    assert [r["train_loss"] for r in a.log] != [r["train_loss"] for r in c.log]


def test_evaluate_reproduces_the_test_accuracy_after_reloading(task):
    trained = model()
    result = fit(trained, TEXT_BACKBONE, task, CONFIG)
    assert evaluate(trained, result.head, TEXT_BACKBONE, task, "test", CONFIG) == result.metrics["test"]
    fresh = model(seed=0)  # same frozen weights, untrained adapter
    load_trainable_state(fresh, result.best_state)
    head = load_head(result.head.describe(), result.head.state_dict(), task)
    again = evaluate(fresh, head, TEXT_BACKBONE, task, "test", CONFIG)
    assert again == result.metrics["test"]
    assert again["n"] == len(task.examples("test"))
    best = result.log[result.metrics["best_epoch"] - 1]["validation"]
    assert evaluate(fresh, head, TEXT_BACKBONE, task, "validation", CONFIG) == best == result.metrics["validation"]


def test_run_folder(task, tmp_path):
    out = tmp_path / "run"
    seen = []

    def before_finish(result, folder):
        seen.append((folder, (folder / "metrics.json").exists(), len(result.log)))

    result = fit(model(), TEXT_BACKBONE, task, CONFIG, RunOutput(out, before_finish=before_finish))
    assert seen == [(out, False, 3)]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == result.metrics
    assert TrainConfig(**saved["config"]) == CONFIG  # what `eval` needs to reproduce the numbers
    check_same_task(saved, task)
    other_seed = load_task(task.name, seed=1)
    with pytest.raises(TaskError) as e:
        check_same_task(saved, other_seed)
    assert str(e.value) == (f"error: task '{task.name}' ({other_seed.fingerprint()}) is not the task the run was "
                            f"trained on ({task.fingerprint()})\n"
                            "    hint: use the same task reference and split seed as for training")
    with pytest.raises(TaskError) as e:
        check_same_task(saved, load_task("digits"))
    assert str(e.value) == (f"error: the run was trained on '{task.name}' with 3 classes, but task 'digits' has 10\n"
                            "    hint: evaluate the run on the task it was trained on")
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert lines == list(result.log)
    with pytest.raises(TaskError) as e:
        fit(model(), TEXT_BACKBONE, task, CONFIG, out)
    assert str(e.value) == (f"error: {out} already holds a finished run (metrics.json exists)\n"
                            "    hint: choose another --out folder or pass --overwrite")
    again = fit(model(), TEXT_BACKBONE, task, CONFIG.model_copy(update={"epochs": 1}), RunOutput(out, overwrite=True))
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1 == again.metrics["epochs"]


def test_steps_instead_of_epochs(task):
    result = fit(model(), TEXT_BACKBONE, task, TrainConfig(steps=15, batch_size=8, device="cpu"))
    assert result.metrics["steps"] == 15 and result.metrics["epochs"] == 2  # 12 steps per epoch
    assert [r["step"] for r in result.log] == [12, 15]


def test_without_validation_or_test_the_last_state_is_kept(task):
    train = tuple(task.examples("train"))
    bare = SplitTask("bare", task.class_names, "text", (train, (), ()))
    result = fit(model(), TEXT_BACKBONE, bare, TrainConfig(epochs=2, batch_size=16, device="cpu"))
    assert result.metrics["best_epoch"] == 2 and result.metrics["test"] is None
    assert result.metrics["validation"] is None
    with pytest.raises(TaskError) as e:
        evaluate(model(), result.head, TEXT_BACKBONE, bare, "test", CONFIG)
    assert str(e.value) == "error: split 'test' of task 'bare' has no examples"


def test_linear_probe_trains_only_the_head(task):
    frozen = model()
    frozen.requires_grad_(False)
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    result = fit(frozen, TEXT_BACKBONE, task, TrainConfig(epochs=1, batch_size=16, device="cpu"))
    assert result.best_state == {} and result.metrics["trainable_parameters"]["model"] == 0
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())


def test_image_task_keeps_frozen_statistics():
    task = load_task("digits?per_class=8")
    torch.manual_seed(0)
    net = TinyImageModel()
    stats = net.stem[1].running_mean.clone()
    result = fit(net, IMAGE_BACKBONE, task, TrainConfig(epochs=1, batch_size=16, device="cpu"))
    assert torch.equal(net.stem[1].running_mean, stats)
    assert result.head.describe() == {"feature_dim": 8, "num_classes": 10, "pooling": "auto"}
    assert evaluate(net, result.head, IMAGE_BACKBONE, task, "test", CONFIG) == result.metrics["test"]


def test_wrong_inputs(task):
    with pytest.raises(TaskError) as e:
        fit(model(), IMAGE_BACKBONE, task, CONFIG)
    assert str(e.value).startswith(f"error: text task '{task.name}' on an image backbone 'tiny:image'")

    class TwoOutputs(nn.Module):
        def forward(self, ids, mask):
            return ids, mask

    with pytest.raises(TaskError) as e:
        fit(TwoOutputs(), TEXT_BACKBONE, task, CONFIG)
    assert str(e.value) == ("error: the feature model returned tuple, not one tensor\n"
                            "    hint: a feature model's forward must return a single feature tensor")


@pytest.mark.skipif(torch.cuda.is_available(), reason="device 'auto' picks the GPU here")
def test_amp_asked_for_on_a_cpu_is_said_not_silently_dropped(task):
    config = TrainConfig(epochs=1, lr=0.05, batch_size=8, device="auto", amp="bf16")
    with pytest.warns(UserWarning, match="amp 'bf16' needs a CUDA device and the device is cpu"):
        result = fit(model(), TEXT_BACKBONE, task, config)
    assert result.metrics["amp"] == "none"
