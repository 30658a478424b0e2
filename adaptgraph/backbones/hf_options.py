"""Options of ``hf:`` references: ``hf:PATH?dtype=bfloat16``.

``dtype`` is the type the weights are loaded in: ``float32`` (the default, whatever the
checkpoint holds), ``bfloat16``, ``float16``, or ``auto`` (the checkpoint's own type).
It is handed to ``from_pretrained``, which builds the model on the meta device and
loads each tensor straight into that type, so a bfloat16 load never holds a float32
copy of the weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from adaptgraph.errors import BackboneError, did_you_mean

DTYPES = ("float32", "bfloat16", "float16", "auto")
OPTIONS = ("dtype",)


@dataclass(frozen=True)
class HfOptions:
    """What the text after ``?`` of an ``hf:`` reference asks for."""

    dtype: str = "float32"

    def from_pretrained_kwargs(self) -> dict:
        import torch

        return {"dtype": "auto" if self.dtype == "auto" else getattr(torch, self.dtype)}


def split_hf_options(name: str) -> tuple[str, HfOptions]:
    """``PATH?key=value&...`` -> ``(PATH, HfOptions)``; BackboneError on an unknown key or value."""
    path, sep, query = name.partition("?")
    if not sep:
        return name, HfOptions()
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BackboneError(f"cannot read the options '{query}' of backbone 'hf:{name}'",
                            hint="write options as hf:PATH?dtype=bfloat16") from None
    values = dict(pairs)
    for key in values:
        if key not in OPTIONS:
            hint = did_you_mean(key, OPTIONS) or f"options of hf: backbones: {', '.join(OPTIONS)}"
            raise BackboneError(f"unknown option '{key}' of backbone 'hf:{name}'", hint=hint)
    dtype = values.get("dtype", "float32")
    if dtype not in DTYPES:
        hint = did_you_mean(dtype, DTYPES) or f"choose one of {', '.join(DTYPES)}"
        raise BackboneError(f"backbone 'hf:{name}': unknown dtype '{dtype}'", hint=hint)
    return path, HfOptions(dtype)
