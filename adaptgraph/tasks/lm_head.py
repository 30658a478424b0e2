"""The LM head (the backbone's own output embedding, frozen); generation is ``adaptgraph.generation``.

:class:`LMHead` maps the feature model's hidden states ``(B, T, D)`` to next-token
logits ``(B, T, V)`` with the backbone's own matrix (``backbones.lm_head``), which is
held as a buffer: it is never trained and never saved with a run (it is the backbone's).
It has the two methods every head has for the training loop: ``per_example_loss`` (mean
cross-entropy of each token given the ones before it) and ``per_example_correct``
(the share of next tokens the argmax gets right).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.lm_head import output_embedding
from ..errors import TaskError


class LMHead(nn.Module):
    """``features @ weight.T (+ bias)``: next-token logits from the backbone's own LM head."""

    select_by = "loss"  # the best epoch is the one with the lowest validation loss (perplexity)
    reports_perplexity = True  # evaluate adds exp(loss)

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("weight", weight.detach(), persistent=False)
        self.register_buffer("bias", None if bias is None else bias.detach(), persistent=False)
        self.num_classes, self.feature_dim = int(weight.shape[0]), int(weight.shape[1])

    def forward(self, features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise TaskError(f"the LM head takes hidden states (B, T, {self.feature_dim}), got "
                            f"{tuple(features.shape)}", hint="use a decoder backbone's own features")
        bias = None if self.bias is None else self.bias.to(features.dtype)
        return F.linear(features, self.weight.to(features.dtype), bias)

    def per_example_loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` mean cross-entropy of tokens 2..T given the ones before (padding left out)."""
        predicted, targets = logits[:, :-1].float(), batch.inputs[0][:, 1:]
        # rows of (B * (T-1), V): cross_entropy over a contiguous class dimension is much faster on the
        # CPU than over dimension 1 of (B, V, T-1), for the same per-token losses
        ce = F.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), targets.reshape(-1), reduction="none")
        return _masked_mean(ce.view(targets.shape), batch.attention_mask)

    def per_example_correct(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` share of next tokens that the argmax predicts."""
        hits = (logits[:, :-1].argmax(-1) == batch.inputs[0][:, 1:]).float()
        return _masked_mean(hits, batch.attention_mask)

    def describe(self) -> dict:
        """What a run records: the head is rebuilt from the backbone, not from saved weights."""
        return {"kind": "lm", "num_classes": self.num_classes, "feature_dim": self.feature_dim}


def _masked_mean(values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return values.mean(dim=1)
    keep = attention_mask[:, 1:].to(values.dtype)
    return (values * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


def lm_head(backbone) -> LMHead:
    """``backbone``'s own LM head; TaskError when the backbone is not a causal decoder."""
    weight, bias = output_embedding(backbone)
    _check_causal(backbone, int(weight.shape[0]))
    return LMHead(weight, bias)


def _check_causal(backbone, vocab: int) -> None:
    """A bidirectional encoder sees the token it should predict: its perplexity would mean nothing."""
    ids = backbone.example_inputs[0][:1]
    mask = torch.ones_like(ids)
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % vocab
    with torch.no_grad():
        a, b = backbone.module(ids, mask), backbone.module(changed, mask)
    if not torch.allclose(a[:, :-1], b[:, :-1], atol=1e-5):
        raise TaskError(f"backbone '{backbone.ref}' is not a causal decoder: changing the last token changes "
                        f"the features of the ones before it", hint="a language-model task needs a decoder "
                        "(zoo:gpt-tiny, an hf: GPT-2, Llama or Qwen2 folder)")
