"""Choosing the next token from its logits: greedy (argmax), or sampling with a temperature and top-p."""
from __future__ import annotations

import torch


class Sampler:
    """``sampler(logits (B, V)) -> tokens (B,)``.

    ``temperature`` 0 is greedy: the argmax, no randomness. Above 0 the logits are divided by it and
    a token is drawn from their softmax, restricted with ``top_p`` < 1 to the smallest set of most
    likely tokens whose probabilities reach ``top_p`` (nucleus sampling). Draws come from a generator
    seeded by ``seed``, so one seed gives one output.
    """

    def __init__(self, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0):  # checked by GenerationConfig
        self.temperature, self.top_p, self.seed = float(temperature), float(top_p), int(seed)
        self.generator: torch.Generator | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature == 0:
            return logits.argmax(-1)
        if self.generator is None:
            self.generator = torch.Generator(device=logits.device).manual_seed(self.seed)
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1:
            probs = _nucleus(probs, self.top_p)
        return torch.multinomial(probs, 1, generator=self.generator)[:, 0]


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """``probs`` with all but the most likely tokens up to cumulative ``top_p`` set to 0 (the first always kept)."""
    ordered, order = probs.sort(dim=-1, descending=True)
    drop = ordered.cumsum(-1) - ordered >= top_p  # tokens after the set already reached top_p
    ordered = ordered.masked_fill(drop, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, ordered)
