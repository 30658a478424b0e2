"""Training and evaluation of feature models (usually compiled ones) on a task, and the run folders of both.

``train_spec`` compiles a spec, trains it and saves the run folder; ``evaluate_run`` reloads one (``run_folder``).

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
from .run_folder import evaluate_run, train_spec

__all__ = ["RunOutput", "TrainConfig", "TrainResult", "check_same_task", "checkpointed", "evaluate", "evaluate_run",
           "fit", "lr_lambda", "train_config", "train_spec"]
