"""The typed form of PEFT's ``adapter_config.json``: the fields an import reads, with their bounds.

Each problem names the file and the field (``lora_alpha`` that is a string, infinite, or a
number of 400 digits), as spec errors name their position.
"""
from __future__ import annotations

from typing import Annotated, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

MAX_ALPHA = 1e6  # PEFT's alphas are small multiples of the rank
MAX_RANK = 1 << 16
MAX_PATTERNS = 10_000
Key = Annotated[StrictStr, Field(max_length=1000)]
Alpha = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_ALPHA, le=MAX_ALPHA)]


class PeftConfig(BaseModel):
    """What ``import_peft`` reads of ``adapter_config.json``; other fields pass through."""

    model_config = ConfigDict(extra="allow")

    peft_type: Optional[StrictStr] = None
    r: Optional[Annotated[StrictInt, Field(ge=1, le=MAX_RANK)]] = None
    lora_alpha: Alpha = 8
    lora_dropout: Annotated[float, Field(strict=True, ge=0, lt=1)] = 0.0
    use_rslora: StrictBool = False
    target_modules: Optional[Union[Annotated[StrictStr, Field(max_length=1000)],
                                   Annotated[list[Key], Field(max_length=MAX_PATTERNS)]]] = None
    rank_pattern: Annotated[dict[Key, Annotated[StrictInt, Field(ge=1, le=MAX_RANK)]],
                            Field(max_length=MAX_PATTERNS)] = {}
    alpha_pattern: Annotated[dict[Key, Alpha], Field(max_length=MAX_PATTERNS)] = {}
    base_model_name_or_path: Optional[Annotated[StrictStr, Field(max_length=4096)]] = None
