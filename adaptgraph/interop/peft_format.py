"""PEFT's LoRA checkpoint layout: file names, tensor keys and the scale <-> lora_alpha relation.

PEFT adds ``lora_B(lora_A(dropout(x))) * scaling`` to a linear layer's output, with
``scaling = lora_alpha / r`` (``lora_alpha / sqrt(r)`` under ``use_rslora``). An
adaptgraph parallel adapter adds ``up(down(dropout(x))) * scale``: ``lora_A`` is
``down.weight`` (r x in), ``lora_B`` is ``up.weight`` (out x r), for ``nn.Linear`` and
GPT-2's ``Conv1D`` alike (only merging sees Conv1D's transposed weight).
"""
from __future__ import annotations

import math

import numpy as np

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
KEY_PREFIX = "base_model.model."


def lora_keys(path: str, prefix: str = KEY_PREFIX) -> tuple[str, str]:
    """The saved keys of module ``path``'s ``lora_A`` and ``lora_B`` weights (``prefix``: see ``peft_export``)."""
    return f"{prefix}{path}.lora_A.weight", f"{prefix}{path}.lora_B.weight"


def scaling(alpha: float, r: int, rslora: bool = False) -> float:
    """PEFT's multiplier for rank ``r`` and ``lora_alpha``."""
    return alpha / math.sqrt(r) if rslora else alpha / r


def alpha_for(scale: float, r: int) -> float | int:
    """A ``lora_alpha`` whose ``alpha / r`` is ``scale`` in float32 (the precision both sides multiply in)."""
    alpha = scale * r
    candidates = [alpha, math.nextafter(alpha, math.inf), math.nextafter(alpha, -math.inf)]
    for a in candidates:
        if np.float32(a / r) == np.float32(scale):
            return int(a) if float(a).is_integer() else a
    return alpha  # unreachable for finite scales; kept so callers always get a number
