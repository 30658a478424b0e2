"""A training run's folder: compile a spec, train it on a task and save it there; evaluate it again.

A run folder holds ``adapters.safetensors`` (adapter and ``train`` weights, the
task head, the spec and the backbone reference), ``spec.adapt``, ``log.jsonl``
and ``metrics.json``; ``metrics.json`` is written last and marks a finished run.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..backbones import get_backbone
from ..compiler import compile
from ..compiler.adapter_files import backbone_for, load_adapters, read_adapter_file, save_adapters
from ..errors import TaskError
from ..fileio.input_paths import input_paths
from ..spec import Spec, dump, load
from ..tasks import bind_task, load_head, load_task
from .config import TrainConfig
from .distributed import is_main_process
from .evaluate import check_same_task, evaluate
from .files import ADAPTERS_FILE, METRICS_FILE, SPEC_FILE, check_run_dir, read_metrics
from .loop import RunOutput, TrainResult, fit, run_output



def train_spec(spec: Spec | str | Path, task: str, *, backbone=None, config: TrainConfig | None = None,
               out: str | Path | RunOutput | None = None, task_seed: int = 0, trust_code: bool = False,
               progress: bool | None = None) -> TrainResult:
    """Compile ``spec`` on ``backbone`` (default: the spec's), train it on ``task``, save the run to ``out``
    (a folder, or a :class:`RunOutput` to overwrite one).

    An empty spec (no edges) trains the head alone: the linear-probe baseline.
    """
    output = run_output(out)
    if output is not None:
        check_run_dir(output.folder, output.overwrite, input_paths(None, task))  # before any loading: fails at once
    spec = spec if isinstance(spec, Spec) else load(spec)
    config = config or TrainConfig()
    bb = get_backbone(backbone if backbone is not None else spec.backbone, trust_code=trust_code)
    if output is not None:  # the run never goes over the backbone folder
        check_run_dir(output.folder, output.overwrite, input_paths(bb, task))
    model = compile(spec, bb, seed=config.seed)
    loaded = load_task(task, seed=task_seed)

    def save(result: TrainResult, folder: Path) -> None:
        save_adapters(model, folder / ADAPTERS_FILE, extra={"head": result.head.state_dict()},
                      metadata={"head": json.dumps(result.head.describe()), "task": task,
                                "task_seed": str(task_seed), "train_config": config.model_dump_json()})
        if is_main_process():
            dump(spec, folder / SPEC_FILE)
        if output.before_finish is not None:
            output.before_finish(result, folder)

    saving = None if output is None else dataclasses.replace(output, before_finish=save)
    return fit(model, bb, loaded, config, saving, progress=progress)


def evaluate_run(run_dir: str | Path, task: str | None = None, split: str = "test", *, backbone=None,
                 trust_code: bool = False, progress: bool | None = None) -> dict:
    """Reload a finished run and evaluate it on ``split``: reproduces the reported test accuracy (and an
    ``lm:`` task's perplexity) exactly."""
    run = Path(run_dir)
    metrics_path, weights = run / METRICS_FILE, run / ADAPTERS_FILE
    if not metrics_path.exists() or not weights.exists():
        raise TaskError(f"{run} is not a finished run (it needs {METRICS_FILE} and {ADAPTERS_FILE})",
                        hint="point at the --out folder of a finished `adaptgraph train`")
    metrics = read_metrics(metrics_path)
    saved = read_adapter_file(weights, require=("task", "head"))
    task_ref = task or saved.metadata.get("task")
    loaded = load_task(task_ref, seed=int(saved.metadata.get("task_seed", "0")))
    bb = backbone_for(saved, weights, backbone, trust_code=trust_code)
    loaded = bind_task(loaded, bb)  # an lm: task's blocks come from the backbone's tokenizer
    check_same_task(metrics, loaded)
    model = load_adapters(weights, bb)
    description = json.loads(saved.metadata["head"])  # an LM head is the backbone's own: rebuilt, not saved
    head = (loaded.make_head(bb, model) if description.get("kind") == "lm"
            else load_head(description, saved.extra("head"), loaded, f"{weights} (head)"))
    config = TrainConfig(**metrics["config"])
    return {"run": str(run), "task": task_ref, "split": split,
            **evaluate(model, head, bb, loaded, split, config, progress=progress, own_stage=True)}
