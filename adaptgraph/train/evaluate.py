"""Evaluation: accuracy and mean cross-entropy of a feature model plus head on one split
(and perplexity for an LM head)."""
from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..errors import TaskError
from ..progress import bar as progress_bar
from ..tasks import Batch, Shard, TaskHead, bind_task, make_loader
from ..tasks.base import check_task
from ..tasks.data import check_fits, check_labels
from . import distributed
from .config import TrainConfig


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None when mixed precision is off (always off on the CPU)."""
    if device.type != "cuda" or config.amp == "none":
        return None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


def autocast(config: TrainConfig, device: torch.device):
    """An autocast context for the configured mixed precision, or a no-op."""
    dtype = amp_dtype(config, device)
    return torch.autocast(device_type="cuda", dtype=dtype) if dtype else contextlib.nullcontext()


def features_of(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The feature model's output; TaskError unless it is one tensor."""
    features = model(*inputs)
    if not isinstance(features, torch.Tensor):
        raise TaskError(f"the feature model returned {type(features).__name__}, not one tensor",
                        hint="a feature model's forward must return a single feature tensor")
    return features


def logits_of(model: nn.Module, head: TaskHead, batch: Batch) -> torch.Tensor:
    """Class logits for a batch, in float32 whatever the autocast dtype."""
    return head(features_of(model, batch.inputs), batch.attention_mask).float()


def rank_progress(progress: bool | None, group: distributed.Dist) -> bool | None:
    """Progress (``adaptgraph.progress``) on rank 0 only: the other ranks show none."""
    return progress if group.is_main else False


def evaluate(model: nn.Module, head: TaskHead, backbone, task, split: str = "test",
             config: TrainConfig | None = None, *, progress: bool | None = None, own_stage: bool = False) -> dict:
    """``{"accuracy", "loss", "n"}`` of ``model`` + ``head`` on ``split`` of ``task`` (and ``"perplexity"``
    and ``"tokens"`` for an LM head, whose accuracy and loss are means over the scored next tokens).

    Batches are taken in order (``eval_batch_size``), so the same model gives
    the same accuracy every time. Under a process group each rank evaluates its
    share and the counts are summed. Moves model and head to the configured device.
    TaskError when the split is empty or the task does not fit the backbone.
    """
    config = config or TrainConfig()
    check_task(task)
    check_fits(task, backbone)
    task = bind_task(task, backbone)
    examples = task.examples(split)
    if not examples:
        raise TaskError(f"split '{split}' of task '{task.name}' has no examples")
    check_labels(examples, task, split)
    group = distributed.current()
    device = distributed.place(config.resolved_device(), group)
    model.to(device).eval()
    head.to(device).eval()
    loader = make_loader(examples, backbone, batch_size=config.eval_batch_size, max_length=config.max_length,
                         shuffle=False, shard=Shard(group.rank, group.world_size), num_workers=config.num_workers)
    correct = loss_sum = count = examples_seen = 0.0
    tokens_of = getattr(head, "per_example_tokens", None)  # an LM head: weigh each example by its scored tokens
    # inside training an evaluation is a passing bar; as the eval command's work, a stage with first and last lines
    bar = progress_bar(loader, desc=f"eval {split}", unit="batch", leave=own_stage,
                       progress=rank_progress(progress, group))
    with torch.no_grad(), autocast(config, device):
        for batch in bar:
            batch = batch.to(device)
            logits = logits_of(model, head, batch)
            real = batch.weights > 0
            weight = (tokens_of(batch) if tokens_of else torch.ones_like(batch.weights))[real].double()
            ce = head.per_example_loss(logits, batch)
            correct += float((head.per_example_correct(logits, batch)[real].double() * weight).sum())
            loss_sum += float((ce[real].double() * weight).sum())
            count += float(weight.sum())
            examples_seen += float(real.sum())
    correct, loss_sum, count, examples_seen = distributed.sum_across([correct, loss_sum, count, examples_seen],
                                                                     group, device)
    metrics = {"accuracy": correct / count, "loss": loss_sum / count, "n": int(examples_seen)}
    if getattr(head, "reports_perplexity", False):  # a language model: exp(mean loss over the scored tokens)
        metrics["perplexity"] = math.exp(metrics["loss"])
        metrics["tokens"] = int(count)
    return metrics


def check_same_task(metrics: dict, task) -> None:
    """TaskError when ``task`` is not the one a finished run (its ``metrics.json``) was trained on.

    Compares class counts first (a head cannot serve another class count), then
    fingerprints (same classes but other data, selection or split seed would
    not reproduce the reported numbers).
    """
    if metrics["num_classes"] != task.num_classes:
        raise TaskError(f"the run was trained on '{metrics['task']}' with {metrics['num_classes']} classes, "
                        f"but task '{task.name}' has {task.num_classes}",
                        hint="evaluate the run on the task it was trained on")
    if metrics["task_fingerprint"] != task.fingerprint():
        raise TaskError(f"task '{task.name}' ({task.fingerprint()}) is not the task the run was trained on "
                        f"({metrics['task_fingerprint']})",
                        hint="use the same task reference and split seed as for training")
