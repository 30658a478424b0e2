"""Settings of a search besides the strategy and budget: trial fidelity and the scoring pass."""
from __future__ import annotations

from typing import ClassVar, Optional

from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import SearchError
from ..score.config import ScoreConfig, SelectConfig

GAMMA = SelectConfig.model_fields["gamma"].default  # GGA's discount: one default for select, gga, evolve, hyperband
_SCORE = {name: f.default for name, f in ScoreConfig.model_fields.items()}  # the score stage's defaults, once


class Fidelity(BaseModel):
    """How long a search trial trains: ``steps`` optimiser steps or ``epochs`` passes (default 1 epoch).

    The final spec is retrained with the full training settings instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: Optional[int] = None
    epochs: Optional[int] = None
    EPOCHS: ClassVar[int] = 1  # without steps or epochs, a trial trains one epoch

    # SearchError (not a ValueError) leaves pydantic as it is: the message and hint reach the user unchanged
    @model_validator(mode="after")
    def _one_budget(self) -> "Fidelity":
        if self.steps is not None and self.epochs is not None:
            raise SearchError(f"give fidelity steps ({self.steps}) or epochs ({self.epochs}), not both")
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SearchError(f"fidelity {name} must be at least 1, got {value}")
        return self

    def config(self, base: dict, seed: int) -> dict:
        """TrainConfig fields of a search trial: ``base`` with this budget and the trial's seed."""
        if self.steps is not None:
            return {**base, "steps": self.steps, "epochs": None, "seed": seed}
        return {**base, "epochs": self.epochs or self.EPOCHS, "steps": None, "seed": seed}

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs if self.steps is not None else (self.epochs or self.EPOCHS)}


class Scoring(BaseModel):
    """The gradient-rank scoring pass of ``gga`` and ``evolve`` (see ``adaptgraph.score.score_edges``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batches: int = _SCORE["batches"]
    batch_size: int = _SCORE["batch_size"]
    max_length: int = _SCORE["max_length"]
    head: str = _SCORE["head"]
    probe_steps: int = _SCORE["probe_steps"]
    metric: str = "rank"

    def to_dict(self) -> dict:
        return self.model_dump()
