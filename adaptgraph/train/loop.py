"""``fit``: train a feature model's trainable parameters and a task head on a task.

Works with any ``nn.Module`` whose ``forward(*inputs)`` returns one feature
tensor (usually the compiled GraphModule with adapters) plus a ``Backbone``
(or any object with ``modality``, ``tokenizer``, ``input_names``,
``image_shape`` and ``ref``) that says how to turn task inputs into model inputs.
"""
from __future__ import annotations

import inspect
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..adapters.grad_init import init_from_gradients, pending
from ..arguments import check_instance, check_path
from ..errors import TaskError, TrainingError
from ..progress import bar as progress_bar
from ..tasks import Batch, Shard, TaskHead, bind_task, make_loader
from ..tasks.base import check_task
from ..tasks.data import check_fits, check_labels
from ..tasks.head import feature_dim_of
from ..tasks.lm_head import check_head_is_used
from ..weights.trainable import trainable_parameters, trainable_state, trained_buffers
from . import distributed
from .checkpointing import checkpointed
from .config import TrainConfig
from .evaluate import amp_dtype, autocast, evaluate, features_of, logits_of, rank_progress
from .files import (LOG_FILE, METRICS_FILE, check_run_dir, drop_previous_run, prepare_run_dir, restore_previous_run,
                    write_json, write_jsonl)
from .state import load_trainable_state, set_train_mode

_LOG = logging.getLogger("adaptgraph.train")


@dataclass(frozen=True)
class TrainResult:
    """What ``fit`` produced: the final metrics, the best trainable state and the head holding it."""

    metrics: dict
    best_state: dict[str, torch.Tensor]  # the feature model's trainable parameters, by name
    head: TaskHead
    log: tuple[dict, ...]  # one record per epoch, as in log.jsonl


@dataclass(frozen=True)
class RunOutput:
    """Where ``fit`` writes a run: ``folder`` (new or empty unless ``overwrite``), and what runs there just
    before ``metrics.json``, the file that marks a finished run (``before_finish(result, folder)``: save
    weights)."""

    folder: str | Path
    overwrite: bool = False
    before_finish: Callable[[TrainResult, Path], None] | None = None


@dataclass(frozen=True)
class _Optimization:
    """What one optimiser step uses besides the batch: the optimiser, its schedule and fp16's loss scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None


@dataclass(frozen=True)
class _Run:
    """Everything one training run reads but does not change."""

    model: nn.Module
    head: TaskHead
    backbone: object
    task: object
    config: TrainConfig
    group: distributed.Dist
    device: torch.device
    out: Path | None
    progress: bool | None


@dataclass(frozen=True)
class _Checkpoint:
    """The best state so far and the validation metrics that made it best."""

    epoch: int
    validation: dict | None
    model_state: dict[str, torch.Tensor]
    head_state: dict[str, torch.Tensor]


class _Trainable(nn.Module):
    """Feature model + head as one module, so DistributedDataParallel syncs both."""

    def __init__(self, model: nn.Module, head: TaskHead):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, attention_mask, *inputs):  # plain tensors, so DDP can move and inspect them
        return logits_of(self.model, self.head, Batch(inputs, None, None, attention_mask))


def fit(model: nn.Module, backbone, task, config: TrainConfig | None = None,
        out: str | Path | RunOutput | None = None, *, head: TaskHead | None = None,
        progress: bool | None = None) -> TrainResult:
    """Train ``model``'s parameters that require grad, plus a head, on ``task``; return a :class:`TrainResult`.

    AdamW (weight decay on matrices only), linear warmup then cosine decay,
    gradient clipping. Validation after every epoch keeps the best state (by
    validation accuracy, earliest on ties; the last one when the task has no
    validation examples); the test split is evaluated once, with that state,
    which is left loaded in ``model`` and ``head``. With ``out`` (a folder, or a :class:`RunOutput`),
    writes ``log.jsonl`` after each epoch and ``metrics.json`` last (rank 0 only,
    atomically); ``RunOutput.before_finish(result, folder)`` runs just before
    ``metrics.json`` so that weights can be saved first. When nothing requires grad (a spec
    without adapters or ``train`` on an ``lm:`` task, whose head is the backbone's frozen one),
    no step is taken: the run holds the frozen model's numbers as epoch 0. The head is new
    (initialised from ``config.seed``) unless one is given. Under ``torchrun``
    the processes train one model with DistributedDataParallel.
    """
    check_instance(model, (nn.Module,), "model", "a compiled model (torch.nn.Module from adaptgraph.compile)")
    config = check_instance(config or TrainConfig(), (TrainConfig,), "config", "a TrainConfig (or None)")
    output = run_output(out)
    check_task(task)
    check_fits(task, backbone)
    task = bind_task(task, backbone)
    if output is not None:
        check_run_dir(output.folder, output.overwrite)  # on every rank, so that all of them stop together
    device = config.resolved_device()
    if config.amp != "none" and device.type != "cuda":  # device 'auto' found no GPU: say what runs instead
        warnings.warn(f"amp '{config.amp}' needs a CUDA device and the device is {device.type}: "
                      "training runs in full precision (metrics.json records amp 'none')", stacklevel=2)
    group = distributed.start(device.type)
    claim = None
    try:
        device = distributed.place(device, group)
        claim = prepare_run_dir(output.folder, output.overwrite) if output is not None and group.is_main else None
        folder = claim.path if claim is not None else None
        torch.manual_seed(config.seed)
        train = task.examples("train")
        if not train:
            raise TaskError(f"split 'train' of task '{task.name}' has no examples")
        check_labels(train, task, "train")
        model.to(device)
        head = (head or _new_head(model, backbone, train, task, config, device)).to(device)
        check_head_is_used(model, head, task.name)
        if head.num_classes != task.num_classes:
            raise TaskError(f"the head has {head.num_classes} classes but task '{task.name}' "
                            f"has {task.num_classes}")
        _init_from_gradients(model, head, backbone, train, config, device)
        run = _Run(model, head, backbone, task, config, group, device, folder, progress)
        result = _finish(run, *_train(run, train), output.before_finish if output is not None else None)
        if claim is not None:
            drop_previous_run(claim.path)  # what --overwrite replaced, now that the new run is whole
    except BaseException:
        if claim is not None:
            try:
                restore_previous_run(claim.path)
            finally:
                claim.release(failed=True)
        raise
    finally:
        if claim is not None:
            claim.release()
        distributed.stop(group)
    return result


def run_output(out: str | Path | RunOutput | None) -> RunOutput | None:
    """``fit``'s ``out`` as a :class:`RunOutput` (a bare folder: not overwritten, nothing run before finishing)."""
    if out is None:
        return None
    if isinstance(out, RunOutput):
        check_path(out.folder, "out.folder")
        return out
    return RunOutput(check_path(out, "out"))


def _train(run: _Run, train: list) -> tuple[list[dict], _Checkpoint, float]:
    """All epochs; returns the log, the best checkpoint and the seconds it took."""
    config, group = run.config, run.group
    loader = make_loader(train, run.backbone, batch_size=config.batch_size, max_length=config.max_length,
                         shuffle=True, seed=config.seed, shard=Shard(group.rank, group.world_size),
                         num_workers=config.num_workers)
    trainer = _Trainable(checkpointed(run.model) if config.checkpointing else run.model, run.head)
    if not trainable_parameters(trainer):  # no adapters, no `train`, a frozen head (an lm: task): the base
        return _frozen(run)
    wrapped = _wrap(trainer, group, run.device)
    if config.torch_compile:
        wrapped = torch.compile(wrapped, backend=config.torch_compile_backend)
    total = config.steps or config.num_epochs * len(loader)
    optimizer = _optimizer(trainer, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total))
    scaler = torch.amp.GradScaler("cuda") if amp_dtype(config, run.device) == torch.float16 else None
    optimization = _Optimization(optimizer, scheduler, scaler)
    has_val = bool(run.task.examples("validation"))
    shown = rank_progress(run.progress, group)
    step, log, best, step_seconds = 0, [], None, []
    started = time.perf_counter()
    n_epochs = math.ceil(total / len(loader))
    epochs = progress_bar(range(n_epochs), desc="train", unit="epoch", progress=shown)
    for epoch in epochs:
        tic = time.perf_counter()
        loader.batch_sampler.set_epoch(epoch)
        set_train_mode(trainer)
        losses = [0.0, 0.0]  # sum of per-example losses, number of examples (this rank)
        for batch in progress_bar(loader, desc=f"train epoch {epoch + 1}/{n_epochs}", unit="batch", leave=False,
                                  progress=shown):
            if step >= total:
                break
            tic_step = time.perf_counter()
            _train_step(wrapped, run, optimization, batch.to(run.device), losses)
            step_seconds.append(time.perf_counter() - tic_step)
            step += 1
        loss_sum, n = distributed.sum_across(losses, group, run.device)
        _check_finite("training", loss_sum / n, epoch + 1, step, config)  # one sum on every rank: all stop
        seconds = time.perf_counter() - tic
        val = evaluate(run.model, run.head, run.backbone, run.task, "validation", config,
                       progress=run.progress) if has_val else None
        if val is not None:
            _check_finite("validation", val["loss"], epoch + 1, step, config)
        log.append({"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                    "train_loss": loss_sum / n, "validation": val, "seconds": round(seconds, 3),
                    "eval_seconds": round(time.perf_counter() - tic - seconds, 3)})
        if best is None or val is None or _better(val, best.validation, run.head):
            best = _Checkpoint(epoch + 1, val, trainable_state(run.model),
                               {k: v.detach().clone() for k, v in run.head.state_dict().items()})
        epochs.set_postfix_str(_so_far(loss_sum / n, best.validation, run.head), refresh=False)
        if run.out is not None:
            write_jsonl(run.out / LOG_FILE, log)
    if config.torch_compile:
        log[0]["torch_compile"] = compile_timing(step_seconds)
        _LOG.info("torch.compile: first step %.2f s (about %.2f s of compiling), later steps %.3f s (median)",
                  *(log[0]["torch_compile"][k] for k in ("first_step_seconds", "compile_seconds",
                                                         "median_step_seconds")))
    return log, best, time.perf_counter() - started


def _so_far(train_loss: float, best_validation: dict | None, head) -> str:
    """The progress line's tail: this epoch's training loss and the best validation so far."""
    text = f"train loss {train_loss:.4f}"
    if best_validation is None:
        return text
    if getattr(head, "reports_perplexity", False):
        return text + f", best validation perplexity {best_validation['perplexity']:.3f}"
    return text + f", best validation accuracy {best_validation['accuracy']:.4f}"


def _frozen(run: _Run) -> tuple[list[dict], _Checkpoint, float]:
    """Nothing trains: no step, the frozen model's validation numbers as epoch 0 (the base model's numbers)."""
    started = time.perf_counter()
    val = evaluate(run.model, run.head, run.backbone, run.task, "validation", run.config,
                   progress=run.progress) if run.task.examples("validation") else None
    seconds = round(time.perf_counter() - started, 3)
    log = [{"epoch": 0, "step": 0, "lr": 0.0, "train_loss": None, "validation": val, "seconds": 0.0,
            "eval_seconds": seconds}]
    if run.out is not None:
        write_jsonl(run.out / LOG_FILE, log)
    head_state = {k: v.detach().clone() for k, v in run.head.state_dict().items()}
    best = _Checkpoint(0, val, trainable_state(run.model), head_state)
    return log, best, seconds


def compile_timing(step_seconds: list[float]) -> dict:
    """The first step's time under ``torch.compile`` (it compiles the forward and backward graphs), the median of
    the later ones, and their difference: about what compiling cost (later recompiles for new shapes excluded)."""
    later = sorted(step_seconds[1:])
    median = later[len(later) // 2] if later else 0.0
    first = step_seconds[0] if step_seconds else 0.0
    return {"first_step_seconds": round(first, 3), "median_step_seconds": round(median, 4),
            "compile_seconds": round(max(0.0, first - median), 3), "steps": len(step_seconds)}


def _check_finite(split: str, loss: float, epoch: int, step: int, config: TrainConfig) -> None:
    """A loss that is not a finite number ends training: weights past it are garbage, never a finished run."""
    if math.isfinite(loss):
        return
    amp = f"; with amp {config.amp}, try bf16 or none" if config.amp != "none" else ""
    raise TrainingError(f"training stopped at step {step}: the {split} loss of epoch {epoch} is {loss} "
                        "(not a finite number), so nothing was saved as a finished run",
                        hint=f"the learning rate {config.lr:g} is likely too high: try a smaller --lr "
                             f"(the default is 1e-3){amp}")


def _finish(run: _Run, log: list[dict], best: _Checkpoint, seconds: float,
            before_finish: Callable[[TrainResult, Path], None] | None) -> TrainResult:
    """Load the best state, evaluate the test split, write the outputs."""
    load_trainable_state(run.model, best.model_state)
    run.head.load_state_dict(best.head_state)
    test = evaluate(run.model, run.head, run.backbone, run.task, "test", run.config,
                    progress=run.progress) if run.task.examples("test") else None
    result = TrainResult(_metrics(run, log, best, test, seconds), best.model_state, run.head, tuple(log))
    if run.out is not None:
        if before_finish is not None:
            before_finish(result, run.out)
        write_json(run.out / METRICS_FILE, result.metrics)
    distributed.barrier(run.group)
    return result


def _better(val: dict, best: dict, head) -> bool:
    """Higher validation accuracy, or lower loss for a head that selects by loss (``LMHead``)."""
    if getattr(head, "select_by", "accuracy") == "loss":
        return val["loss"] < best["loss"]
    return val["accuracy"] > best["accuracy"]


def _new_head(model, backbone, train, task, config, device) -> TaskHead:
    """A head sized by one forward pass of the model on two training examples (an LM task's: the backbone's)."""
    if hasattr(task, "make_head"):
        return task.make_head(backbone, model)
    probe = make_loader(train[:2], backbone, batch_size=2, max_length=config.max_length, shuffle=False)
    batch = next(iter(probe)).to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        features = features_of(model, batch.inputs)
    model.train(was_training)
    return TaskHead(feature_dim_of(features), task.num_classes, config.pooling)


def _init_from_gradients(model, head, backbone, train, config, device) -> None:
    """Adapters with ``init = grad``: one forward and backward pass on the first training batch, with
    the head training starts from (``adapters.grad_init``); nothing when no adapter asks for it."""
    if not pending(model):
        return
    loader = make_loader(train, backbone, batch_size=config.batch_size, max_length=config.max_length,
                         shuffle=True, seed=config.seed)
    batch = next(iter(loader)).to(device)
    init_from_gradients(model, lambda: head.per_example_loss(logits_of(model, head, batch), batch).mean())


def _wrap(trainer: _Trainable, group: distributed.Dist, device: torch.device) -> nn.Module:
    if not group.active:
        return trainer
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # Frozen parameters have requires_grad=False, so DDP neither syncs nor waits for them. Frozen
    # modules stay in eval mode and their buffers never change: broadcast buffers from rank 0 only
    # when a training module has some (a trainable batch norm's statistics).
    sync = bool(trained_buffers(trainer))
    # torch 2.13 renamed broadcast_buffers (now deprecated, with a warning on every rank) to
    # forward_sync_buffers; the new one also syncs buffers once at init, harmless for frozen ones,
    # which every rank loaded from the same weights. Older torch (>= 2.4 is supported) has only the old.
    name = "forward_sync_buffers" if "forward_sync_buffers" in _ddp_parameters() else "broadcast_buffers"
    return DistributedDataParallel(trainer, device_ids=ids, find_unused_parameters=False, **{name: sync})


def _ddp_parameters() -> frozenset[str]:
    from torch.nn.parallel import DistributedDataParallel

    return frozenset(inspect.signature(DistributedDataParallel.__init__).parameters)


def _optimizer(trainer: _Trainable, config: TrainConfig) -> torch.optim.Optimizer:
    params = list(trainable_parameters(trainer).values())
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)


def lr_lambda(config: TrainConfig, total: int) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warmup over ``warmup * total`` steps, then cosine to 0 or constant."""
    warm = int(config.warmup * total + 0.5)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.schedule == "constant":
            return 1.0
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _train_step(wrapped, run: _Run, optimization: _Optimization, batch, losses) -> None:
    optimizer, scheduler, scaler = optimization.optimizer, optimization.scheduler, optimization.scaler
    with autocast(run.config, run.device):
        logits = wrapped(batch.attention_mask, *batch.inputs)
    per_example = run.head.per_example_loss(logits, batch)
    # backward needs the loss's own saved tensors, not the logits: an LM's (B, T, V) logits held on through
    # backward and the optimizer step made each step about 7 % slower on the CPU (benchmarks/lm_peft.py's decoder)
    del logits
    loss = (per_example * batch.weights).sum()  # weights make this the global-batch mean (see data.py)
    (scaler.scale(loss) if scaler else loss).backward()
    if scaler:
        scaler.unscale_(optimizer)
    if run.config.grad_clip is not None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, run.config.grad_clip)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    real = batch.weights > 0
    losses[0] += float(per_example.detach()[real].double().sum())
    losses[1] += float(real.sum())


def _metrics(run: _Run, log: list[dict], best: _Checkpoint, test: dict | None, seconds: float) -> dict:
    model_params = sum(p.numel() for p in trainable_parameters(run.model).values())
    head_params = sum(p.numel() for p in run.head.parameters())
    config, device = run.config, run.device
    return {
        "task": run.task.name, "task_fingerprint": run.task.fingerprint(), "num_classes": run.task.num_classes,
        "backbone": getattr(run.backbone, "ref", None), "config": config.model_dump(),
        "device": device.type, "amp": config.amp if amp_dtype(config, device) else "none",
        "world_size": run.group.world_size, "epochs": log[-1]["epoch"], "steps": log[-1]["step"],
        "best_epoch": best.epoch, "train_examples": len(run.task.examples("train")),
        **({"scored_tokens": {s: run.task.scored_tokens(s) for s in ("train", "validation", "test")}}
           if hasattr(run.task, "scored_tokens") else {}),  # an lm: task: the tokens its loss counts
        "validation": best.validation, "test": test, "test_accuracy": test["accuracy"] if test else None,
        **({"test_perplexity": test["perplexity"]} if test and "perplexity" in test else {}),
        **({"block_tokens": run.task.task.block, "instruction": hasattr(run.task.task, "form")}
           if run.head.describe().get("kind") == "lm" else {}),
        "head": run.head.describe(),
        "trainable_parameters": {"model": model_params, "head": head_params, "total": model_params + head_params},
        "timing": {"total_seconds": round(seconds, 3),
                   "seconds_per_epoch": round(sum(r["seconds"] for r in log) / len(log), 3),
                   **({"torch_compile": log[0]["torch_compile"]} if "torch_compile" in log[0] else {})},
    }
