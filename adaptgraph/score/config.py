"""``ScoreConfig`` and ``SelectConfig``: every option of ``score_edges`` and of ``select``, with its default.

The one home of these defaults: the functions, the CLI's ``score`` and ``select`` flags (built from
``model_fields``) and the search read them from here. Strict and frozen, as ``TrainConfig``: an unknown
field or a count out of bounds is a ``pydantic.ValidationError`` naming the field; names chosen from a
list (``head``, ``strategy``, ``ranks`` ...) and GGA's ``gamma`` are checked where they are used, with a hint.
"""
from __future__ import annotations

from typing import Annotated, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..arguments import SEED_MAX
from ..errors import Problem, UsageError
from ..spec.models import BUILTIN_OPTIONS

METRICS = ("rank", "erank", "fro", "nuclear")
"""The scores of every edge (see ``adaptgraph.score.metrics``)."""

Count = Annotated[int, Field(strict=True, ge=1)]
Seed = Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)]


class ScoreConfig(BaseModel):
    """How ``score_edges`` scores: which points, on how many batches, with which head, kept how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: Optional[tuple[str, ...]] = Field(None, description="point texts to score (@3, PATH.out, %NODE); "
                                                                "None: every stream point")
    stream: Optional[str] = Field(None, description="module pattern of the repeated blocks (None: detected)")
    batches: Count = Field(4, description="training batches whose gradients are accumulated")
    batch_size: Count = Field(16, description="examples per batch")
    max_length: Count = Field(64, description="longest token sequence of text tasks")
    head: str = Field("probe", description="task head of the loss: probe (a briefly fitted linear probe) or random")
    probe_examples: Count = Field(256, description="training examples the probe head is fitted on")
    probe_steps: Count = Field(100, description="optimiser steps of the probe head's fit")
    pooling: str = Field("auto", description="how the head pools token features (see adaptgraph.tasks.head)")
    metrics: Annotated[tuple[str, ...], Field(min_length=1)] = Field(
        METRICS, description="scores computed: rank and fro alone skip the spectra (faster; no spectra kept, so no "
                             "allocated ranks); erank and nuclear need them")
    rtol: Optional[Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] = Field(
        None, description="rank tolerance relative to the largest singular value (None: float32 eps * max(d_i, d_j))")
    store: str = Field("auto", description="memory of the accumulation: auto, rows or sums (see score.accumulate)")
    tokens_per_batch: Optional[Count] = Field(None, description="keep a random T token rows per batch (None: all)")
    seed: Seed = Field(0, description="seed of the batches, the head and the token subsampling")
    device: str = Field("cpu", description="cpu, cuda, cuda:N or auto (CUDA when present)")


class SelectConfig(BaseModel):
    """How ``select`` chooses edges from scores and writes them as a spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: Optional[Count] = Field(None, description="number of adapters (give k, max_params or both)")
    max_params: Optional[Count] = Field(None, description="budget of trainable adapter parameters")
    strategy: str = Field("gga", description="gga (greedy with a distance discount), topk, first, last or random")
    metric: str = Field("rank", description="score to select by: rank, erank, fro or nuclear")
    gamma: float = Field(0.6, description="GGA discount in [0, 1) (checked by choose, with a hint): scores near a "
                                          "chosen edge are multiplied by 1 - gamma**distance")
    rank: Count = Field(BUILTIN_OPTIONS.rank, description="bottleneck of each adapter")
    ranks: str = Field("equal", description="equal: rank everywhere; allocated: the same parameters (or max_params) "
                                            "shared out by gradient energy per parameter")
    init: Optional[str] = Field(None, description="initialisation written into the spec (grad: from each edge's "
                                                  "gradient; None: the spec's default, zero)")
    bias: bool = Field(True, description="adapters with biases (counted in the parameter budget)")
    kinds: Optional[tuple[str, ...]] = Field(None, description="edge kinds allowed (None: all of them)")
    seed: Seed = Field(0, description="seed of the random strategy")
    name: Optional[str] = Field(None, description="name of the spec written")


SCORE_DEFAULTS = ScoreConfig()
SELECT_DEFAULTS = SelectConfig()
"""The defaults, for the few helpers below ``select`` that take single options (``candidates``, ``choose``)."""

Config = TypeVar("Config", ScoreConfig, SelectConfig)


def user_config(cls: type[Config], values: dict) -> Config:
    """``cls(**values)`` from user values; a UsageError listing every invalid field instead of a traceback."""
    try:
        return cls(**values)
    except ValidationError as e:
        raise UsageError(problems=[Problem(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}"
                                           f" (got {err['input']!r})") for err in e.errors()]) from None
