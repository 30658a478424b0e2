"""The task head: pool the feature model's output, then one linear layer to the classes.

Pooling by feature shape:

- ``(B, T, D)`` tokens: ``mean`` averages the non-padding tokens (positions where
  the attention mask is 1; all tokens when there is no mask), ``cls`` takes token 0;
  ``auto`` means ``mean``;
- ``(B, C, H, W)`` maps: global average over H and W (``cls`` is an error);
- ``(B, D)`` vectors: used as they are.

The head is always trained and is saved with the adapters (``describe()`` plus
``state_dict()``; :func:`load_head` rebuilds it and checks it fits the task).

Scoring sends its loss through a head too, and a zero head would give zero gradients
everywhere, so there the head is either random (``make_head``, seeded) or first fitted
as a linear probe on frozen backbone features (``fit_probe``, the default). With a
random head the loss gradient at the output, W^T (p - y), spans the same random
C-dimensional subspace for any task with C classes, while a fitted probe points it
along the feature directions that carry this task's classes, and the gradient then
measures what the frozen features still get wrong. The probe is fitted on cached
pooled features (one forward pass per batch, no backward through the backbone), with
weight decay and few steps so that it does not reach zero loss on its training examples.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AdapterFileError, ScoreError, TaskError
from ..weights.file_checks import EDITED_HINT, check_state

POOLINGS = ("auto", "mean", "cls")
HEADS = ("probe", "random")  # how scoring makes its head: a fitted linear probe or a random one


def feature_dim_of(features: torch.Tensor) -> int:
    """The channel size of a feature tensor: ``C`` for NCHW, the last size otherwise."""
    if features.dim() == 4:
        return int(features.shape[1])
    if features.dim() in (2, 3):
        return int(features.shape[-1])
    raise TaskError(f"the feature model returned a tensor of shape {tuple(features.shape)}",
                    hint="a feature model must return (B, T, D), (B, D) or (B, C, H, W)")


class TaskHead(nn.Module):
    """``pool`` then ``Linear(feature_dim, num_classes)``; see the module docstring."""

    def __init__(self, feature_dim: int, num_classes: int, pooling: str = "auto"):
        super().__init__()
        if pooling not in POOLINGS:
            raise TaskError(f"unknown pooling '{pooling}'", hint=f"use one of {', '.join(POOLINGS)}")
        self.feature_dim, self.num_classes, self.pooling = feature_dim, num_classes, pooling
        self.linear = nn.Linear(feature_dim, num_classes)

    def pool(self, features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, feature_dim)`` pooled features."""
        if features.dim() == 2:
            return features
        if features.dim() == 4:
            if self.pooling == "cls":
                raise TaskError("pooling 'cls' needs token features (B, T, D), got a feature map (B, C, H, W)",
                                hint="use pooling 'auto' or 'mean' for convolutional backbones")
            return features.mean(dim=(2, 3))
        if features.dim() != 3:
            feature_dim_of(features)  # raises the shape error
        if self.pooling == "cls":
            return features[:, 0]
        return masked_mean(features, attention_mask)

    def forward(self, features: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.linear(self.pool(features, attention_mask))

    select_by = "accuracy"  # the training loop keeps the epoch with the best validation accuracy

    def per_example_loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` cross-entropy of each example (``LMHead`` has the same two methods for tokens)."""
        return F.cross_entropy(logits, batch.labels, reduction="none")

    def per_example_correct(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """``(B,)`` 1.0 where the argmax is the label."""
        return (logits.argmax(-1) == batch.labels).float()

    def describe(self) -> dict:
        """What is needed, beside ``state_dict()``, to rebuild this head."""
        return {"feature_dim": self.feature_dim, "num_classes": self.num_classes, "pooling": self.pooling}


def masked_mean(tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``(B, T, D)`` tokens over positions where ``attention_mask`` (B, T) is nonzero."""
    if attention_mask is None:
        return tokens.mean(dim=1)
    if tuple(attention_mask.shape) != tuple(tokens.shape[:2]):
        raise TaskError(f"the features have {tuple(tokens.shape[:2])} (batch, tokens) but the attention mask "
                        f"is {tuple(attention_mask.shape)}",
                        hint="a text feature model must return one feature vector per input token")
    weights = attention_mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def load_head(description: dict, state: dict[str, torch.Tensor], task, where: str = "the saved head") -> TaskHead:
    """A head rebuilt from ``describe()`` and its state; TaskError when it belongs to another task.

    AdapterFileError when the description or the tensors are not a head's (checked on the meta
    device first, so a damaged description cannot make it allocate more than the tensors hold).
    """
    dims = [description.get(k) if isinstance(description, dict) else None for k in ("feature_dim", "num_classes")]
    if not all(type(d) is int and d > 0 for d in dims):
        raise AdapterFileError(f"{where}: the head description {str(description)[:80]} has no positive "
                               "feature_dim and num_classes", hint=EDITED_HINT)
    if dims[1] != task.num_classes:
        raise TaskError(f"the checkpoint's head has {dims[1]} classes but task '{task.name}' has {task.num_classes}",
                        hint="evaluate the checkpoint on the task it was trained on")
    pooling = description.get("pooling", "auto")
    with torch.device("meta"):
        check_state(TaskHead(*dims, pooling).state_dict(), state, where, "the head")
    head = TaskHead(*dims, pooling)
    head.load_state_dict(state)
    return head


def make_head(features: torch.Tensor, num_classes: int, pooling: str, seed: int) -> TaskHead:
    """A seeded random head sized for ``features`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = TaskHead(feature_dim_of(features), num_classes, pooling)
    return head.to(features.device)


def fit_probe(head: TaskHead, model: nn.Module, batches: Iterable, *, steps: int = 100,
              lr: float = 1e-2, weight_decay: float = 1e-2) -> float:
    """Fit ``head.linear`` on pooled features of ``batches`` (full batch AdamW); returns the final loss."""
    pooled, labels = _pooled_features(head, model, batches)
    if pooled.shape[0] == 0:
        raise ScoreError("no training examples to fit the linear-probe head on",
                         hint="use head='random', or a task with training examples")
    optimizer = torch.optim.AdamW(head.linear.parameters(), lr=lr, weight_decay=weight_decay)
    loss = torch.zeros(())
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(head.linear(pooled), labels)
            loss.backward()
            optimizer.step()
    head.zero_grad(set_to_none=True)
    return float(loss.detach())


def _pooled_features(head: TaskHead, model: nn.Module, batches: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    device = head.linear.weight.device
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            xs.append(head.pool(model(*batch.inputs), batch.attention_mask).float())
            ys.append(batch.labels)
    if not xs:
        return torch.zeros(0, head.feature_dim, device=device), torch.zeros(0, dtype=torch.long, device=device)
    return torch.cat(xs), torch.cat(ys)
