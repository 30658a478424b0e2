"""The ``Backbone`` record: a frozen module plus what is needed to run and trace it."""
from __future__ import annotations

from dataclasses import dataclass

import torch

MODALITIES = ("text", "image", "audio")


@dataclass(frozen=True, eq=False)
class Backbone:
    """A loaded backbone.

    ``module.forward(*example_inputs)`` returns one feature tensor: ``(B, T, D)``
    hidden states for token models and ViTs, ``(B, C, H, W)`` for conv nets.
    ``eq=False``: two loads are different objects even when their weights agree.
    """

    ref: str  # normalised reference, e.g. "zoo:vit-tiny", "hf:minilm"
    module: torch.nn.Module  # eval mode
    example_inputs: tuple  # positional inputs, batch of 2
    modality: str  # "text", "image" or "audio" (log-mel features, Whisper's encoder)
    tokenizer: object | None  # text only: tokenizer(texts, max_length) -> {"input_ids", "attention_mask"}
    input_names: tuple[str, ...]  # forward argument names, e.g. ("input_ids", "attention_mask")
    image_shape: tuple[int, int, int] | None  # (C, H, W) for image backbones
    frontend: str  # preferred tracing frontend, a name of graph.tracing's registry (trace checks it)
    leaf_modules: tuple[str, ...] = ()  # module class names the fx tracer keeps as leaves

    def __post_init__(self) -> None:
        # Internal consistency of loaders, not user input: a wrong value is a bug here.
        if self.modality not in MODALITIES:
            raise ValueError(f"Backbone.modality must be one of {MODALITIES}, not {self.modality!r}")
