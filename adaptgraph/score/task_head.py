"""The task head the scoring loss goes through: random, or briefly trained as a linear probe.

A zero head would give zero gradients everywhere, so the head is either randomly
initialised (seeded) or first fitted as a linear probe on frozen backbone features.
The default is the probe: with a random head the loss gradient at the output,
W^T (p - y), spans the same random C-dimensional subspace for any task with C
classes, while a fitted probe points it along the feature directions that carry
this task's classes, and the gradient then measures what the frozen features still
get wrong. The probe is fitted on cached pooled features (one forward pass per
batch, no backward through the backbone), with weight decay and few steps so that it
does not reach zero loss on its training examples.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from adaptgraph.errors import ScoreError
from adaptgraph.train.head import TaskHead, feature_dim_of

HEADS = ("probe", "random")


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
