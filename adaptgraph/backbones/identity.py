"""A backbone's weights digest (its fingerprint): what it is (config and weights), not where it was loaded from.

Adapter files record it beside the backbone reference, so that a model folder that has
moved can be named anew (the weights and config still match) and a different model is
refused even under the same name. Computed once per loaded backbone (hashing every
weight of a large model takes a while).
"""
from __future__ import annotations

import hashlib
import json
import weakref

import torch

from adaptgraph.backbones.backbone import Backbone

_DIGESTS: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()
# Config entries that say where or by which version a model was saved, not what it computes.
_PLACE_KEYS = ("_name_or_path", "transformers_version", "_commit_hash")


def weights_digest(backbone: Backbone) -> str:
    """``sha256:`` + 32 hex digits over the backbone's config (when it has one) and every tensor of its state."""
    module = backbone.module
    if module not in _DIGESTS:
        _DIGESTS[module] = _digest(module)
    return _DIGESTS[module]


def remember_weights_digest(module: torch.nn.Module, value: str) -> None:
    """Record ``value`` as ``module``'s weights digest: one computed earlier from the same config and weights
    (a backbone rebuilt from its snapshot, whose tensors are the same but whose module is not the HF one)."""
    _DIGESTS[module] = value


def _digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    h.update(getattr(type(module), "_feature_base", type(module)).__qualname__.encode())  # the HF class itself
    config = getattr(module, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        settings = {k: v for k, v in config.to_dict().items() if k not in _PLACE_KEYS}
        h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(module.state_dict().items()):
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        h.update(_raw_bytes(tensor))
    return "sha256:" + h.hexdigest()[:32]


def _raw_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
