"""Turn a Hugging Face model into a feature module without a wrapper prefix.

The loaded model's class is swapped for a subclass whose ``forward`` takes the
model's own input names (``input_ids, attention_mask`` and, where the model takes
them, optional ``token_type_ids`` / ``position_ids``) and returns
``last_hidden_state``. The model stays an instance of its own class, so
``named_modules()`` (and therefore every module path a user writes in a spec) is
exactly the Hugging Face model's own, and ``torch.export`` records those same paths.

An optional input's default is a ``DerivedInput``: the value the model itself would
use when the input is left out (zeros, positions 0..T-1), computed from ``input_ids``.
Tracing sees these defaults in the signature and gives the traced graph the same
optional arguments, so ``model(**tokenizer(texts, return_tensors="pt"))`` works on a
compiled model as on the backbone.

The subclasses are made on demand and cached; module-level ``__getattr__``
rebuilds them by name so that pickled backbones load in a fresh process.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

_SUFFIX = {"text": "TextFeatures", "image": "ImageFeatures", "audio": "AudioFeatures"}
_SEPARATOR = "__"  # class name = <Base><Suffix>__<optional input>__<optional input>


def zeros_if_none(value: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    """``value``, or zeros shaped like ``input_ids`` (BERT's token types when none are given)."""
    if isinstance(value, torch.fx.Proxy):
        return _as_call(zeros_if_none, value, input_ids)
    return torch.zeros_like(input_ids) if value is None else value


def positions_if_none(value: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    """``value``, or positions ``0 .. T-1`` for every row (what a model without a cache uses)."""
    if isinstance(value, torch.fx.Proxy):
        return _as_call(positions_if_none, value, input_ids)
    if value is not None:
        return value
    batch, length = input_ids.shape
    return torch.arange(length, device=input_ids.device).expand(batch, length)


def _as_call(fill, value: torch.fx.Proxy, input_ids) -> torch.fx.Proxy:
    """Under symbolic tracing (torch.fx re-traces a pickled graph when it loads), record the call
    itself: evaluated on proxies, ``value is None`` is always false and the default would vanish."""
    return value.tracer.create_proxy("call_function", fill, (value, input_ids), {})


@dataclass(frozen=True)
class DerivedInput:
    """The default of an optional input: ``fill(None, input_ids)`` is what the model uses without it.

    Tracing turns the argument into an optional graph input whose missing value is
    computed by ``fill`` (a module-level function, so the graph's code still pickles).
    """

    name: str
    fill: Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor]

    def __repr__(self) -> str:
        return f"<{self.name} derived from input_ids>"


OPTIONAL_TEXT_INPUTS = {"token_type_ids": DerivedInput("token_type_ids", zeros_if_none),
                        "position_ids": DerivedInput("position_ids", positions_if_none)}


def decoder_inputs(model: nn.Module, given: dict) -> dict:
    """``decoder_input_ids`` for an encoder-decoder whose forward needs them (T5): the input shifted
    right behind the decoder start token, as T5ForSequenceClassification does; so the features are
    the decoder's last hidden states, one per input token. BART-like models derive them themselves."""
    if getattr(model, "decoder", None) is None or not hasattr(model, "_shift_right"):
        return {}
    return {"decoder_input_ids": model._shift_right(given["input_ids"])}


def as_features(model: nn.Module, modality: str, optional: tuple[str, ...] = ()) -> nn.Module:
    """Make ``model.forward(*inputs)`` return ``last_hidden_state``; returns ``model`` itself.

    ``optional``: names from ``OPTIONAL_TEXT_INPUTS`` the forward also takes (text only).
    """
    model.__class__ = feature_class(getattr(type(model), "_feature_base", type(model)), modality, tuple(optional))
    return model


def feature_base(model: nn.Module) -> type:
    """The Hugging Face class a feature module was made from (``BertModel`` for ``BertModelTextFeatures``)."""
    return getattr(type(model), "_feature_base", type(model))


@functools.lru_cache(maxsize=None)
def feature_class(base: type, modality: str, optional: tuple[str, ...] = ()) -> type:
    """The subclass of ``base`` whose forward is the ``modality``'s one, with ``optional`` text inputs."""
    if modality == "text":
        names = ("input_ids", "attention_mask") + optional

        def forward(self, *args, **kwargs):
            given = {**dict(zip(names, args)), **kwargs}
            given = {k: v for k, v in given.items() if not isinstance(v, DerivedInput)}
            return base.forward(self, **given, **decoder_inputs(self, given)).last_hidden_state

        forward.__signature__ = _signature(names, {n: OPTIONAL_TEXT_INPUTS[n] for n in optional})
    elif modality == "audio":
        def forward(self, features):
            if getattr(self, "decoder", None) is not None:  # an encoder-decoder (WhisperModel): its encoder's states
                return self.get_encoder()(input_features=features).last_hidden_state
            return base.forward(self, input_features=features).last_hidden_state
    else:
        def forward(self, pixels):
            return base.forward(self, pixel_values=pixels).last_hidden_state
    name = base.__name__ + _SUFFIX[modality] + "".join(_SEPARATOR + n for n in optional)
    forward.__doc__ = f"{base.__name__}.forward(...).last_hidden_state"
    forward.__qualname__ = f"{name}.forward"
    cls = type(name, (base,), {"forward": forward, "__module__": __name__, "__qualname__": name})
    cls._feature_base = base
    cls._optional_inputs = optional
    return cls


def _signature(names: tuple[str, ...], defaults: dict[str, DerivedInput]) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", kind)]
    params += [inspect.Parameter(n, kind, default=defaults.get(n, inspect.Parameter.empty)) for n in names]
    return inspect.Signature(params)


def __getattr__(name: str) -> type:
    """Rebuild ``<TransformersClass>TextFeatures[__input...]`` / ``...ImageFeatures`` for pickle."""
    head, *optional = name.split(_SEPARATOR)
    for modality, suffix in _SUFFIX.items():
        if head.endswith(suffix) and all(n in OPTIONAL_TEXT_INPUTS for n in optional):
            import transformers

            base = getattr(transformers, head[: -len(suffix)], None)
            if isinstance(base, type):
                return feature_class(base, modality, tuple(optional))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
