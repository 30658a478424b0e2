"""Training compiled zoo backbones: the loss drops, and a seed fixes every metric."""
import copy

import pytest
import torch
from train_fixtures import synthetic_rows, write_csv

from adaptgraph.tasks import SplitTask, TaskHead, load_task
from adaptgraph.train import TrainConfig, evaluate, fit

compiler = pytest.importorskip("adaptgraph.compiler")
backbones = pytest.importorskip("adaptgraph.backbones")
spec_api = pytest.importorskip("adaptgraph.spec")

CONFIG = TrainConfig(epochs=3, lr=1e-2, batch_size=8, eval_batch_size=32, device="cpu")


def compiled(ref: str):
    bb = backbones.load_backbone(ref)
    return compiler.compile(spec_api.loads(f'backbone "{ref}"\nparallel @0 -> @1\nedge @2 -> @2\n'), bb), bb


@pytest.mark.slow
@pytest.mark.parametrize("ref,task_ref", [("zoo:bert-tiny", "csv"), ("zoo:vit-tiny", "digits?per_class=6")])
def test_zoo_training_lowers_the_loss_and_is_deterministic(ref, task_ref, tmp_path):
    if task_ref == "csv":
        task_ref = f"csv:{write_csv(tmp_path / 'd.csv', synthetic_rows(10))}"
    loaded = load_task(task_ref)
    # no validation split: fit keeps the last state, so the loss is compared after all the steps
    task = SplitTask(loaded.name, loaded.class_names, loaded.modality,
                     (tuple(loaded.examples("train")), (), tuple(loaded.examples("test"))))
    runs = []
    for _ in range(2):
        model, bb = compiled(ref)
        frozen = {k: v.clone() for k, v in model.named_parameters() if not v.requires_grad}
        torch.manual_seed(CONFIG.seed)
        head = TaskHead(64, task.num_classes)
        before = evaluate(model, copy.deepcopy(head), bb, task, "train", CONFIG)["loss"]
        result = fit(model, bb, task, CONFIG, head=head, progress=False)
        after = evaluate(model, result.head, bb, task, "train", CONFIG)["loss"]
        assert after < before - 0.05, (before, after)
        assert all(torch.equal(v, dict(model.named_parameters())[k]) for k, v in frozen.items())
        assert result.metrics["trainable_parameters"]["model"] > 0
        runs.append(result)
    a, b = ({k: v for k, v in r.metrics.items() if k != "timing"} for r in runs)
    assert a == b
    assert all(torch.equal(runs[0].best_state[k], runs[1].best_state[k]) for k in runs[0].best_state)
