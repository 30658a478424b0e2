"""The LM head: the backbone's own output embedding (frozen), or its trained copy.

:class:`LMHead` maps the feature model's hidden states ``(B, T, D)`` to next-token
logits ``(B, T, V)`` with the backbone's own matrix (``backbones.output_embedding``), which is
held as a buffer: it is never trained and never saved with a run (it is the backbone's).
When the spec trains ``lm_head`` (a causal-LM folder's head, ``backbones.hf_causal``), the head
computes with the compiled model's trained copy instead, which is saved with the adapters.
It has the two methods every head has for the training loop: ``per_example_loss`` (mean
cross-entropy of each scored token given the ones before it) and ``per_example_correct``
(the share of scored next tokens the argmax gets right), and ``per_example_tokens`` (how
many tokens of each example are scored: every one of a block; the response tokens of
instruction data, whose batches carry ``targets``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.hf_causal import HEAD
from ..backbones.output_embedding import output_embedding
from ..errors import TaskError
from .data import IGNORE_INDEX


class LMHead(nn.Module):
    """``features @ weight.T (+ bias)``: next-token logits from the backbone's own LM head."""

    select_by = "loss"  # the best epoch is the one with the lowest validation loss (perplexity)
    reports_perplexity = True  # evaluate adds exp(loss)

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, trained: nn.Module | None = None):
        super().__init__()
        self.register_buffer("weight", weight.detach(), persistent=False)
        self.register_buffer("bias", None if bias is None else bias.detach(), persistent=False)
        self.num_classes, self.feature_dim = int(weight.shape[0]), int(weight.shape[1])
        # The compiled model's own `lm_head` when its spec trains it (`train lm_head`): held without
        # registering it, so its weights stay the model's (saved with the adapters), not this head's.
        self.__dict__["trained"] = trained

    def forward(self, features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if features.dim() != 3 or features.shape[-1] != self.feature_dim:
            raise TaskError(f"the LM head takes hidden states (B, T, {self.feature_dim}), got "
                            f"{tuple(features.shape)}", hint="use a decoder backbone's own features")
        source = self if self.trained is None else self.trained
        weight, bias = source.weight, getattr(source, "bias", None)
        bias = None if bias is None else bias.to(features.dtype)
        return F.linear(features, weight.to(features.dtype), bias)

    def per_example_loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` mean cross-entropy of each example's scored next tokens (padding and prompts left out)."""
        # Every position's logits against the next token, the last position's target IGNORE_INDEX (it predicts
        # nothing): the logits stay one contiguous (B * T, V) view, where dropping the last position would copy
        # them all (as Hugging Face's causal-LM loss shifts its labels, not its logits). Rows over a contiguous
        # class dimension are also much faster on the CPU than dimension 1 of (B, V, T).
        targets = F.pad(next_token_targets(batch), (0, 1), value=IGNORE_INDEX)
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                             ignore_index=IGNORE_INDEX, reduction="none")  # 0 where ignored
        return ce.view(targets.shape).sum(dim=1) / (targets != IGNORE_INDEX).sum(dim=1).clamp_min(1)

    def per_example_correct(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` share of each example's scored next tokens that the argmax predicts."""
        targets = next_token_targets(batch)
        return _masked_mean((logits[:, :-1].argmax(-1) == targets).float(), targets != IGNORE_INDEX)

    def per_example_tokens(self, batch) -> torch.Tensor:
        """``(B,)`` how many next tokens of each example are scored: evaluation weighs examples by it,
        so that its loss is the mean over all scored tokens of the split."""
        return (next_token_targets(batch) != IGNORE_INDEX).sum(dim=1)

    def describe(self) -> dict:
        """What a run records: the head is rebuilt from the backbone, not from saved weights."""
        return {"kind": "lm", "num_classes": self.num_classes, "feature_dim": self.feature_dim}


def next_token_targets(batch) -> torch.Tensor:
    """``(B, T - 1)``: the token each position predicts, IGNORE_INDEX where it is not scored
    (padding; the prompt of instruction data, whose batches carry their own ``targets``)."""
    if batch.targets is not None:
        return batch.targets[:, 1:]
    targets = batch.inputs[0][:, 1:]
    if batch.attention_mask is None:
        return targets
    return targets.masked_fill(batch.attention_mask[:, 1:] == 0, IGNORE_INDEX)


def _masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    keep = keep.to(values.dtype)
    return (values * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


def lm_head(backbone, model: nn.Module | None = None) -> LMHead:
    """``backbone``'s own LM head; TaskError when the backbone is not a causal decoder.

    With ``model`` (a compiled model) whose spec trains ``lm_head``, the head computes with that
    trained copy instead of the backbone's frozen one."""
    weight, bias = output_embedding(backbone)
    _check_causal(backbone, int(weight.shape[0]))
    return LMHead(weight, bias, _trained_head(model))


def check_head_is_used(model: nn.Module, head: nn.Module, task_name: str) -> None:
    """TaskError when the spec trains ``lm_head`` but the task's head is not the LM head: it would get no
    gradient and stay as it is, silently."""
    if _trained_head(model) is not None and not isinstance(head, LMHead):
        raise TaskError(f"the spec trains lm_head, but task '{task_name}' does not use the LM head (it trains "
                        f"its own classification head)", hint="remove `train lm_head`, or train on an lm: task")


def _trained_head(model: nn.Module | None) -> nn.Module | None:
    """The compiled model's ``lm_head`` when it trains. Not always an ``nn.Linear``: torch.export names a
    tied weight after its last user, so the graph may hold ``lm_head`` as a plain module with a ``weight``."""
    head = None if model is None else model._modules.get(HEAD)  # the compiled model itself, before any wrapper
    weight = getattr(head, "weight", None)
    return head if isinstance(weight, nn.Parameter) and weight.requires_grad else None


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


class BoundLMTask:
    """What an ``lm:`` task bound to one backbone (``LMBlocks``, ``InstructExamples``) shares: its task's
    name and fingerprint, rebinding to another backbone, and the LM head as the task's head. The bound
    classes are frozen dataclasses with the fields ``task`` and ``backbone``."""

    @property
    def name(self) -> str:
        return self.task.name

    def fingerprint(self) -> str:
        return self.task.fingerprint()

    def for_backbone(self, backbone):
        return self if backbone is self.backbone else self.task.for_backbone(backbone)

    def make_head(self, backbone, model=None) -> LMHead:
        """The backbone's own LM head (frozen), or ``model``'s trained ``lm_head`` when its spec trains it."""
        return lm_head(backbone, model)
