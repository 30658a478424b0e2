"""The typed form of ``scores.json``: every field with its type and bounds, checked before use.

A hand-edited or damaged file (a string for a width, ``1e999`` for a score, a million points)
is refused naming the file and the field (``scores.json: field 'widths[2]': ...``).
"""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_POINTS = 4096  # the matrices are n x n: 16 million cells at most
MAX_WIDTH = 1 << 24
MAX_SPECTRUM = 4096

Score = Optional[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]]
Row = Annotated[list[Score], Field(max_length=MAX_POINTS)]
Matrix = Annotated[list[Row], Field(max_length=MAX_POINTS)]
Text = Annotated[StrictStr, Field(max_length=10_000)]


def _points(item) -> type:
    return Annotated[list[item], Field(max_length=MAX_POINTS)]


class ScoresDocument(BaseModel):
    """What ``EdgeScores.to_dict`` writes (``format`` and ``version`` are checked before this)."""

    model_config = ConfigDict(extra="forbid")

    format: StrictStr
    version: StrictInt
    points: _points(Text)
    nodes: _points(Text)
    orders: _points(Annotated[StrictInt, Field(ge=0, le=1 << 40)])
    shapes: _points(Annotated[list[Annotated[StrictInt, Field(ge=0, le=1 << 40)]], Field(max_length=8)])
    feature_dims: _points(Annotated[StrictInt, Field(ge=-8, le=8)])
    widths: _points(Annotated[StrictInt, Field(ge=1, le=MAX_WIDTH)])
    tokens: _points(Annotated[StrictInt, Field(ge=0, le=1 << 50)])
    rank: Optional[Matrix] = None
    erank: Optional[Matrix] = None
    fro: Optional[Matrix] = None
    nuclear: Optional[Matrix] = None
    rtol: Optional[Annotated[float, Field(strict=True, gt=0, lt=1)]] = None
    batches: Annotated[StrictInt, Field(ge=1, le=1 << 30)] = 1
    head: Text = "random"
    task: Optional[Text] = None
    backbone: Optional[Text] = None
    stream: Optional[Text] = None
    timings: Annotated[list[tuple[Text, Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]]],
                       Field(max_length=100)] = []
    spectra: Optional[Annotated[list[Annotated[list[Optional[Annotated[list[Score], Field(
        max_length=MAX_SPECTRUM)]]], Field(max_length=MAX_POINTS)]], Field(max_length=MAX_POINTS)]] = None
