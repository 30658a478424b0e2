"""The path `adaptgraph train` / `adaptgraph eval` take: save in before_finish, rebuild, evaluate, same number."""
import json

import pytest

from adaptgraph.tasks import load_head, load_task
from adaptgraph.train import RunOutput, TrainConfig, check_same_task, evaluate, fit

saving = pytest.importorskip("adaptgraph.compiler.adapter_files")
compiler = pytest.importorskip("adaptgraph.compiler")
backbones = pytest.importorskip("adaptgraph.backbones")
spec_api = pytest.importorskip("adaptgraph.spec")


@pytest.mark.slow
def test_saved_run_reproduces_its_test_accuracy_exactly(tmp_path):
    bb = backbones.load_backbone("zoo:vit-tiny")
    model = compiler.compile(spec_api.loads('backbone "zoo:vit-tiny"\nedge @1 -> @3\n'), bb)
    task = load_task("digits?per_class=6")

    def save(result, out):
        saving.save_adapters(model, out / "adapters.safetensors", extra={"head": result.head.state_dict()},
                             metadata={"head": json.dumps(result.head.describe())})

    config = TrainConfig(epochs=2, lr=1e-2, batch_size=8, eval_batch_size=7, device="cpu")
    result = fit(model, bb, task, config, RunOutput(tmp_path / "run", before_finish=save), progress=False)

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    again_task = load_task("digits?per_class=6")
    check_same_task(metrics, again_task)
    saved = saving.read_adapter_file(tmp_path / "run" / "adapters.safetensors")
    rebuilt = saving.load_adapters(tmp_path / "run" / "adapters.safetensors", bb)
    head = load_head(json.loads(saved.metadata["head"]), saved.extra("head"), again_task)
    numbers = evaluate(rebuilt, head, bb, again_task, "test", TrainConfig(**metrics["config"]))
    assert numbers == metrics["test"] == result.metrics["test"]
