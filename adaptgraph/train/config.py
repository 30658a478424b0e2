"""``TrainConfig``: every setting that changes what training computes.

Strict and frozen (unknown fields are errors, so a typo never silently falls
back to a default). Build one with ``TrainConfig(...)`` from Python, or with
:func:`train_config` where the values come from a user (it turns validation
failures into one ``UsageError`` listing every problem).
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..arguments import SEED_MAX, resolve_device
from ..errors import Problem, UsageError
from ..tasks import POOLINGS

DEFAULT_EPOCHS = 3
DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

AMP_MODES = ("none", "bf16", "fp16")
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class TrainConfig(BaseModel):
    """How to train a feature model and its head."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: Optional[PositiveInt] = None
    """Passes over the training split (default 3 when ``steps`` is not set either)."""
    steps: Optional[PositiveInt] = None
    """Optimiser steps in all, instead of ``epochs``; validation still runs after every full pass and at the end."""
    lr: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = 1e-3
    """Peak learning rate of AdamW."""
    batch_size: PositiveInt = 32
    """Examples per optimiser step, summed over all processes when distributed."""
    eval_batch_size: PositiveInt = 64
    """Examples per batch when evaluating (per process)."""
    weight_decay: NonNegFloat = 0.01
    """AdamW weight decay, applied to matrices only (not to biases, norms or scalars)."""
    warmup: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.1
    """Fraction of all steps over which the learning rate rises linearly from 0."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """After warmup: cosine decay to 0, or a constant rate."""
    grad_clip: Optional[Annotated[float, Field(gt=0.0, allow_inf_nan=False)]] = 1.0
    """Clip the global gradient norm of the trainable parameters to this value (None: no clipping)."""
    seed: Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)] = 0
    """Seed of the head's initialisation and the shuffling (not of the task split, see ``load_task``)."""
    device: str = "auto"
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (CUDA when present)."""
    amp: Literal[AMP_MODES] = "none"
    """Mixed precision on CUDA; ignored (recorded as ``none``) when ``auto`` picks the CPU."""
    max_length: PositiveInt = 128
    """Longest token sequence for text tasks; batches are padded only to their longest text."""
    pooling: Literal[POOLINGS] = "auto"
    """How the head pools token features (see ``adaptgraph.tasks.head``)."""
    num_workers: Annotated[int, Field(strict=True, ge=0)] = 0
    """DataLoader worker processes (0: load in the training process)."""
    checkpointing: bool = False
    """Activation checkpointing, one segment per backbone block (``adaptgraph.train.checkpointing``):
    far less activation memory for about one more forward pass; the same gradients."""
    torch_compile: bool = False
    """Run the training steps under ``torch.compile`` (inductor): a one-off compile on the first step
    (reported in ``metrics.json``, ``timing.torch_compile``), the same results within float rounding."""
    torch_compile_backend: Literal[COMPILE_BACKENDS] = "inductor"
    """The ``torch.compile`` backend: ``inductor`` (generated kernels: the fast one), or ``aot_eager`` / ``eager``
    (the same graph capture without code generation, for checking and debugging; no C compiler needed)."""

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.epochs is not None and self.steps is not None:
            raise ValueError(f"give epochs ({self.epochs}) or steps ({self.steps}), not both")
        if not DEVICE_RE.match(self.device):
            raise ValueError(f"device '{self.device}' is not one of auto, cpu, cuda, cuda:N")
        if self.device == "cpu" and self.amp != "none":
            raise ValueError(f"amp '{self.amp}' needs a CUDA device, but device is 'cpu'")
        return self

    @property
    def num_epochs(self) -> int | None:
        """``epochs``, or its default when neither epochs nor steps is set."""
        return self.epochs if self.epochs is not None or self.steps is not None else DEFAULT_EPOCHS

    def resolved_device(self) -> torch.device:
        """The device ``device`` names; ``auto`` is CUDA when available."""
        return resolve_device(self.device)  # UsageError when this machine has no such device

    def fingerprint(self) -> str:
        """A short stable hash of every setting that can change the result (checkpointing cannot; torch.compile
        changes it only by float rounding, as another thread count would)."""
        text = json.dumps(self.model_dump(exclude={"checkpointing", "torch_compile", "torch_compile_backend"}), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_config(**values) -> TrainConfig:
    """A TrainConfig from user values (``None`` means default); UsageError listing every invalid one."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return TrainConfig(**given)
    except ValidationError as e:
        problems = [Problem(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg'].removeprefix('Value error, ')}"
                            + (f" (got {err['input']!r})" if err["loc"] else ""))
                    for err in e.errors()]
        raise UsageError(problems=problems) from None
