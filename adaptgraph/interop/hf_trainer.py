"""A compiled model that Hugging Face's ``Trainer`` trains directly (sequence classification).

``SequenceClassifier(model, num_labels)`` adds adaptgraph's task head (pooling + one
linear layer) and a cross-entropy loss, and takes the tokenizer's batch as keyword
arguments, so ``Trainer(model=SequenceClassifier(...), ...)`` needs nothing else.
Its ``state_dict()`` holds only what training changes (adapters, ``train`` modules,
the head): Trainer checkpoints stay small, and the frozen backbone comes from the
backbone reference when ``load`` rebuilds the model. ``load_state_dict`` takes such a
trained-only state (or the whole one) without counting the frozen backbone as missing,
so ``resume_from_checkpoint`` and ``load_best_model_at_end`` work as on a PreTrainedModel.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..compiler.adapter_files import load_adapters, read_adapter_file, save_adapters
from ..tasks.head import TaskHead
from ..weights.trainable import trainable_state

HEAD_PREFIX = "head"  # the tensors' prefix in an adapter file, as `adaptgraph train` saves its head


class SequenceClassifier(nn.Module):
    """``logits = head(pool(model(**inputs)))``; with ``labels``, also the cross-entropy ``loss``."""

    # Trainer reads these of a PreTrainedModel after loading a checkpoint: nothing is tied or left out on save
    _keys_to_ignore_on_save = None
    _tied_weights_keys = None

    def __init__(self, model: nn.Module, num_labels: int, pooling: str = "mean"):
        super().__init__()
        self.model = model
        self.head = TaskHead(_feature_width(model), num_labels, pooling)
        self.register_state_dict_post_hook(_trained_only)
        self.register_load_state_dict_post_hook(_frozen_not_missing)

    def tie_weights(self) -> None:
        """Nothing to tie (Trainer calls this when only ignored keys were missing)."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None):
        optional = {"token_type_ids": token_type_ids, "position_ids": position_ids}
        features = self.model(input_ids, attention_mask, **{k: v for k, v in optional.items() if v is not None})
        logits = self.head(features, attention_mask)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return _output(loss, logits)

    def save(self, path: str | Path) -> None:
        """An adaptgraph adapter file with the head: ``SequenceClassifier.load`` (and ``adaptgraph`` commands) read it."""
        save_adapters(self.model, path, extra={HEAD_PREFIX: self.head.state_dict()},
                      metadata={HEAD_PREFIX: json.dumps(self.head.describe())})

    @classmethod
    def load(cls, path: str | Path, backbone=None) -> "SequenceClassifier":
        """Rebuild a saved classifier (on ``backbone``, default: the saved reference)."""
        saved = read_adapter_file(path)
        head = json.loads(saved.metadata[HEAD_PREFIX])
        classifier = cls(load_adapters(path, backbone), head["num_classes"], head["pooling"])
        classifier.head.load_state_dict(saved.extra(HEAD_PREFIX))
        return classifier


def _feature_width(model: nn.Module) -> int:
    """The last size of the compiled model's output (its feature width), from the traced graph."""
    output = next(n for n in reversed(model.graph.nodes) if n.op == "output")
    meta = output.args[0].meta.get("tensor_meta")
    dims = tuple(meta.shape)
    return int(dims[1] if len(dims) == 4 else dims[-1])


def _trained_only(module: SequenceClassifier, state: dict, prefix: str, local_metadata) -> None:
    """State-dict hook: drop the frozen backbone's tensors (they come from the backbone reference)."""
    keep = {f"{prefix}model.{k}" for k in trainable_state(module.model)}
    for key in [k for k in state if k.startswith(f"{prefix}model.") and k not in keep]:
        del state[key]


def _frozen_not_missing(module: SequenceClassifier, incompatible) -> None:
    """Load hook: the frozen backbone's tensors are not missing from a trained-only state (nor from strict loads)."""
    frozen = {f"model.{k}" for k in module.model.state_dict()} - {f"model.{k}" for k in trainable_state(module.model)}
    incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if k not in frozen]


def _output(loss, logits):
    try:
        from transformers.modeling_outputs import SequenceClassifierOutput
    except ImportError:  # Trainer is not in use without transformers: a plain dict does
        return {"loss": loss, "logits": logits} if loss is not None else {"logits": logits}
    return SequenceClassifierOutput(loss=loss, logits=logits)

