"""Two ways to get the next token's logits: the compiled model over the whole sequence, or the
eager Hugging Face model with its key-value cache and the adapters attached by hooks.

A stepper's ``start(ids, mask)`` takes the left-padded prompts and returns the logits of each
row's next token ``(B, V)``; ``step(tokens)`` appends one token per row ``(B,)`` and returns the
logits of the one after it. Positions count real tokens only (``cumsum(mask) - 1``), so a
left-padded row is computed as the same prompt alone.
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from ..backbones.hf_features import feature_base
from .edge_hooks import Unmapped


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Each token's position among its row's real tokens (padding gets 0)."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def takes_positions(model: nn.Module) -> bool:
    """Whether the compiled model takes ``position_ids`` (so left padding keeps each row's positions)."""
    return "position_ids" in inspect.signature(model.forward).parameters


class FullRecompute:
    """The compiled model and LM head over the whole sequence for every new token (no cache)."""

    def __init__(self, model: nn.Module, head: nn.Module):
        self.model, self.head = model, head
        self.positions = takes_positions(model)

    def start(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.ids, self.mask = ids, mask
        return self._last()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.ids = torch.cat([self.ids, tokens[:, None].to(self.ids.dtype)], dim=1)
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        return self._last()

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` next-token logits at every position."""
        extra = (positions(mask),) if self.positions else ()
        return self.head(self.model(ids, mask, *extra))

    def _last(self) -> torch.Tensor:
        return self.logits(self.ids, self.mask)[:, -1]


# The forward argument (and output field) of a Hugging Face model's key-value cache: ``cache`` since
# transformers 5.2x, ``past_key_values`` before.
CACHE_NAMES = ("cache", "past_key_values")


def cache_argument(module: nn.Module) -> str | None:
    """The name under which the eager backbone's own forward takes a key-value cache, or None (no cache)."""
    try:
        params = inspect.signature(feature_base(module).forward).parameters
    except (TypeError, ValueError):
        return None
    return next((n for n in CACHE_NAMES if n in params), None) if "use_cache" in params else None


class _CachedForward(nn.Module):
    """The Hugging Face model's own forward (hidden states and the cache), under one root for hooks."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, **kwargs):
        return feature_base(self.backbone).forward(self.backbone, **kwargs)


class Cached:
    """The eager backbone with its key-value cache: each new token costs one position, not the sequence.

    ``trained``: the compiled model's own copies of the modules the spec trains (``train``),
    used in place of the backbone's (whose weights stay untouched); ``attach``: a context
    that calls the spec's adapters from hooks (``edge_hooks.attached``)."""

    def __init__(self, backbone: nn.Module, head: nn.Module, trained: dict[str, torch.Tensor], attach):
        self.root = _CachedForward(backbone)
        self.argument = cache_argument(backbone)
        self.head, self.attach = head, attach
        self.trained = {f"backbone.{k}": v for k, v in trained.items()}

    def active(self):
        """A context within which the adapters' hooks are attached."""
        return self.attach(self.root)

    def start(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.mask, self.cache = mask, None
        pos = positions(mask)
        self.next_position = pos[:, -1:] + 1
        return self._run(ids, pos)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        pos, self.next_position = self.next_position, self.next_position + 1
        return self._run(tokens[:, None], pos)

    def _run(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        kwargs = {"input_ids": ids, "attention_mask": self.mask, "position_ids": pos, "use_cache": True,
                  self.argument: self.cache}
        if self.trained:
            out = torch.func.functional_call(self.root, self.trained, (), kwargs, strict=False)
        else:
            out = self.root(**kwargs)
        hidden, self.cache = getattr(out, "last_hidden_state", None), getattr(out, self.argument, None)
        if hidden is None or self.cache is None:
            raise Unmapped(f"the backbone's own forward ({type(out).__name__}) returns no hidden states and cache")
        return self.head(hidden[:, -1:])[:, 0]
