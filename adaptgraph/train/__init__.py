"""Training and evaluation of feature models (usually compiled ones) on a task.

Tasks, batches and the head come from ``adaptgraph.tasks``. Typical use::

    from adaptgraph.tasks import load_task
    from adaptgraph.train import TrainConfig, evaluate, fit
    task = load_task("wordnet:noun?per_class=100", seed=0)
    result = fit(model, backbone, task, TrainConfig(epochs=3, lr=1e-3), out="runs/a")
    evaluate(model, result.head, backbone, task, "test", config)["accuracy"]
"""
from .checkpointing import checkpointed
from .config import TrainConfig, train_config
from .evaluate import check_same_task, evaluate
from .loop import RunOutput, TrainResult, fit, lr_lambda

__all__ = ["RunOutput", "TrainConfig", "TrainResult", "check_same_task", "checkpointed", "evaluate", "fit", "lr_lambda",
           "train_config"]
