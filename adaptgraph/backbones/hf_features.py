"""Turn a Hugging Face model into a feature module without a wrapper prefix.

The loaded model's class is swapped for a subclass whose ``forward`` takes
positional tensors and returns ``last_hidden_state``. The model stays an
instance of its own class, so ``named_modules()`` (and therefore every module
path a user writes in a spec) is exactly the Hugging Face model's own, and
``torch.export`` records those same paths.

The subclasses are made on demand and cached; module-level ``__getattr__``
rebuilds them by name so that pickled backbones load in a fresh process.
"""
from __future__ import annotations

import functools

from torch import nn

_SUFFIX = {"text": "TextFeatures", "image": "ImageFeatures"}


def as_features(model: nn.Module, modality: str) -> nn.Module:
    """Make ``model.forward(*inputs)`` return ``last_hidden_state``; returns ``model`` itself."""
    model.__class__ = feature_class(type(model), modality)
    return model


@functools.lru_cache(maxsize=None)
def feature_class(base: type, modality: str) -> type:
    """The subclass of ``base`` whose forward is the ``modality``'s positional one."""
    if modality == "text":
        def forward(self, input_ids, attention_mask):
            return base.forward(self, input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    else:
        def forward(self, pixels):
            return base.forward(self, pixel_values=pixels).last_hidden_state
    name = base.__name__ + _SUFFIX[modality]
    forward.__doc__ = f"{base.__name__}.forward(...).last_hidden_state"
    forward.__qualname__ = f"{name}.forward"
    cls = type(name, (base,), {"forward": forward, "__module__": __name__, "__qualname__": name})
    cls._feature_base = base
    return cls


def __getattr__(name: str) -> type:
    """Rebuild ``<TransformersClass>TextFeatures`` / ``...ImageFeatures`` for pickle."""
    for modality, suffix in _SUFFIX.items():
        if name.endswith(suffix):
            import transformers

            base = getattr(transformers, name[: -len(suffix)], None)
            if isinstance(base, type):
                return feature_class(base, modality)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
