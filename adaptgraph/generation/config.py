"""``GenerationConfig``: every option of ``generate``, with its default, in one frozen model.

As Hugging Face's ``generate(inputs, generation_config, **kwargs)``: ``generate`` takes a config, and
keyword options update it (``generate(model, prompts, max_new_tokens=8)``). A value out of bounds is a
``TaskError`` naming the option, with a hint; an unknown option or a value of the wrong type is one too.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import AdaptGraphError, TaskError


class GenerationConfig(BaseModel):
    """How ``generate`` continues prompts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(20, description="new tokens per prompt, at most")
    temperature: float = Field(0.0, description="0: greedy (the likeliest token); above 0: sample from "
                                                "softmax(logits / temperature)")
    top_p: float = Field(1.0, description="below 1 (with sampling): only the likeliest tokens whose probability "
                                          "reaches top_p")
    seed: int = Field(0, strict=True, ge=0, description="seed of the sampling")
    eos_token_id: Union[int, Literal["auto"], None] = Field(
        "auto", description="a row stops at this token ('auto': the tokenizer's end of text; None: never)")
    cache: bool = Field(True, strict=True, description="run the eager model with its key-value cache where the "
                                                       "spec allows (False: recompute every token)")

    @model_validator(mode="before")
    @classmethod
    def _bounds(cls, values: Any) -> Any:
        """The user's values before any conversion (True is not a token count), with a hint each."""
        if not isinstance(values, dict):
            return values
        n = values.get("max_new_tokens", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TaskError(f"max_new_tokens must be a positive integer, not {n!r}", hint="e.g. max_new_tokens=32")
        temperature, top_p = values.get("temperature", 0.0), values.get("top_p", 1.0)
        if isinstance(temperature, bool) or not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
                                                 and temperature >= 0):
            raise TaskError(f"temperature must be a number >= 0, not {temperature!r}",
                            hint="0 is greedy decoding; 0.7 to 1.0 samples")
        if isinstance(top_p, bool) or not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
            raise TaskError(f"top_p must be a number in (0, 1], not {top_p!r}", hint="e.g. top_p=0.9")
        if temperature == 0 and top_p < 1:
            raise TaskError(f"top_p={top_p} needs sampling, and temperature 0 is greedy decoding",
                            hint="give a temperature above 0 as well (e.g. --temperature 0.8 --top-p 0.9)")
        return values


def generation_config(config: Optional[GenerationConfig], options: dict) -> GenerationConfig:
    """``config`` (default: the defaults) updated by keyword ``options``; a TaskError naming every bad field."""
    if config is not None and not isinstance(config, GenerationConfig):
        raise TaskError(f"config must be a GenerationConfig (or None), not {type(config).__name__}",
                        hint="e.g. GenerationConfig(max_new_tokens=32), or keyword options: max_new_tokens=32")
    values = {**(config.model_dump() if config is not None else {}), **options}
    try:
        return GenerationConfig(**values)
    except ValidationError as e:
        for err in e.errors():  # a check above (TaskError is a ValueError): its own message and hint
            if isinstance(err.get("ctx", {}).get("error"), AdaptGraphError):
                raise err["ctx"]["error"] from None
        wrong = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']} (got {err['input']!r})"
                          for err in e.errors())
        raise TaskError(f"invalid generation option: {wrong}",
                        hint=f"options: {', '.join(GenerationConfig.model_fields)}") from None
