"""A pre-norm causal decoder with GPT-2's module names.

``wte``, ``wpe``, ``h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
mlp.act, mlp.c_proj}``, ``ln_f``. Masks are built with tensor operations only,
so ``torch.fx.symbolic_trace`` sees no data-dependent Python control flow.

Initialised as GPT-2 is (``GPT2PreTrainedModel._init_weights``): linear and embedding
weights from N(0, 0.02), biases zero, LayerNorm ones and zeros, and the two projections
that write into the residual stream (``attn.c_proj``, ``mlp.c_proj``) from
N(0, 0.02 / sqrt(2 * depth)), so the stream's variance does not grow with depth. The LM
head is tied to ``wte``, so step-0 logits are small and the loss starts near log(vocab).
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import torch
import torch.nn.functional as F
from torch import nn

INIT_STD = 0.02  # GPT-2's initializer_range


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT."""

    vocab_size: int = 1000
    max_positions: int = 128
    width: int = 64
    depth: int = 4
    heads: int = 4


class CausalSelfAttention(nn.Module):
    """Multi-head attention; ``mask`` (B, 1, T, T) is True where a query may see a key."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.heads = cfg.heads
        self.c_attn = nn.Linear(cfg.width, 3 * cfg.width)
        self.c_proj = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.c_attn(x).reshape(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    """c_fc -> GELU -> c_proj."""

    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class GPTBlock(nn.Module):
    """Pre-norm decoder block: exactly two residual adds."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.width)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.width)
        self.mlp = MLP(cfg.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """forward(input_ids (B, T), attention_mask (B, T)) -> hidden states after ``ln_f`` (B, T, D)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.width)
        self.wpe = nn.Embedding(cfg.max_positions, cfg.width)
        self.h = nn.ModuleList([GPTBlock(cfg) for _ in range(cfg.depth)])
        self.ln_f = nn.LayerNorm(cfg.width)
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):  # residual projections, scaled by depth as in GPT-2
                nn.init.normal_(param, mean=0.0, std=INIT_STD / math.sqrt(2 * cfg.depth))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.ones_like(input_ids).cumsum(-1) - 1  # (B, T): 0, 1, 2, ...
        x = self.wte(input_ids) + self.wpe(positions)
        mask = causal_padding_mask(positions[0], attention_mask)
        for block in self.h:
            x = block(x, mask)
        return self.ln_f(x)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def causal_padding_mask(positions: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) bool: a query sees earlier-or-same keys that are not padding.

    With right padding every query still sees the first token, so no row is all False
    (an all-False row would make attention produce NaN).
    """
    causal = positions[None, :] <= positions[:, None]  # (T, T): key index <= query index
    return causal[None, None] & attention_mask[:, None, None, :].bool()
