"""A post-norm encoder with Hugging Face ``BertModel``'s module names.

``embeddings.{word_embeddings, position_embeddings, token_type_embeddings,
LayerNorm}``, ``encoder.layer.N.{attention.self.{query,key,value},
attention.output.{dense,LayerNorm}, intermediate.{dense,intermediate_act_fn},
output.{dense,LayerNorm}}``. Post-norm: each residual add is followed by a
LayerNorm, so a spec written for the zoo BERT also reads against ``hf:minilm``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """Shape of a BERT."""

    vocab_size: int = 1000
    max_positions: int = 128
    width: int = 64
    depth: int = 4
    heads: int = 4
    intermediate: int = 256


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.width, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.width)
        self.token_type_embeddings = nn.Embedding(2, cfg.width)
        self.LayerNorm = nn.LayerNorm(cfg.width, eps=1e-12)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.ones_like(input_ids).cumsum(-1) - 1  # (B, T): 0, 1, 2, ...
        token_types = torch.zeros_like(input_ids)  # single-segment inputs
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        return self.LayerNorm(x + self.token_type_embeddings(token_types))


class BertSelfAttention(nn.Module):
    """Multi-head attention; ``mask`` (B, 1, 1, T) is True on real (non-padding) keys."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads = cfg.heads
        self.query = nn.Linear(cfg.width, cfg.width)
        self.key = nn.Linear(cfg.width, cfg.width)
        self.value = nn.Linear(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (proj(x).reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for proj in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return y.transpose(1, 2).reshape(B, T, C)


class BertResidualNorm(nn.Module):
    """dense, then LayerNorm(that + residual): the post-norm merge (BertSelfOutput / BertOutput)."""

    def __init__(self, inner: int, width: int):
        super().__init__()
        self.dense = nn.Linear(inner, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    """Self-attention followed by its residual merge."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertResidualNorm(cfg.width, cfg.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    """dense -> GELU (the feed-forward's first half)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.width, cfg.intermediate)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertLayer(nn.Module):
    """Post-norm encoder layer: two residual adds, each followed by a LayerNorm."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertResidualNorm(cfg.intermediate, cfg.width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(x, mask)
        return self.output(self.intermediate(attended), attended)


class BertEncoder(nn.Module):
    """The stack of layers, ``layer.0`` .. ``layer.N-1``."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg.depth)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertModel(nn.Module):
    """forward(input_ids (B, T), attention_mask (B, T)) -> last hidden state (B, T, D)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T): padding keys are hidden
        return self.encoder(self.embeddings(input_ids), mask)
