"""Wrap a user's ``nn.Module`` (from ``load_backbone(module)`` or a ``py:`` factory) as a Backbone."""
from __future__ import annotations

import inspect

import torch

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.errors import BackboneError
from adaptgraph.weights.sharing import eval_mode

EXAMPLE_HINT = "pass example_inputs=(tensor, ...) with a batch of 2, e.g. (torch.randn(2, 3, 32, 32),)"


def wrap_module(module: torch.nn.Module, example_inputs: tuple | None, ref: str) -> Backbone:
    """A Backbone for ``module`` (its train/eval mode is left alone); modality is guessed from the inputs' dtype.

    Integer inputs mean token ids ("text"), floating inputs mean pixels ("image").
    The module is run once on the inputs to check that it returns one tensor.
    """
    if not example_inputs:
        raise BackboneError(f"backbone {ref} has no example inputs", hint=EXAMPLE_HINT)
    first = example_inputs[0]
    if not isinstance(first, torch.Tensor):
        raise BackboneError(f"the first example input of backbone {ref} must be a tensor, "
                            f"not {type(first).__name__}", hint=EXAMPLE_HINT)
    check_output(module, example_inputs, ref)
    text = not (first.is_floating_point() or first.is_complex())
    return Backbone(
        ref=ref,
        module=module,
        example_inputs=example_inputs,
        modality="text" if text else "image",
        tokenizer=None,
        input_names=forward_argument_names(module, len(example_inputs)),
        image_shape=tuple(first.shape[1:]) if not text and first.dim() == 4 else None,
        frontend="auto",
    )


def as_input_tuple(inputs) -> tuple | None:
    """``inputs`` as a tuple: a tensor becomes a 1-tuple, a list a tuple; None stays None."""
    if inputs is None or isinstance(inputs, tuple):
        return inputs
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, list):
        return tuple(inputs)
    raise BackboneError(f"example_inputs must be a tuple of tensors, not {type(inputs).__name__}",
                        hint=EXAMPLE_HINT)


def forward_argument_names(module: torch.nn.Module, count: int) -> tuple[str, ...]:
    """The names of the first ``count`` positional parameters of ``module.forward``."""
    params = inspect.signature(module.forward).parameters.values()
    named = [p.name for p in params
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    # *args (or fewer named parameters than inputs) leaves the rest numbered.
    return tuple(named[i] if i < len(named) else f"input{i}" for i in range(count))


def check_output(module: torch.nn.Module, example_inputs: tuple, ref: str) -> None:
    """Run ``module`` once (in eval mode, then its own mode again); BackboneError unless it returns one tensor."""
    try:
        with eval_mode(module), torch.no_grad():
            out = module(*example_inputs)
    except Exception as exc:  # the user's forward: report whatever it raised
        raise BackboneError(f"backbone {ref} failed on its example inputs: "
                            f"{type(exc).__name__}: {exc}",
                            hint="check that example_inputs match forward()'s arguments") from exc
    if not isinstance(out, torch.Tensor):
        raise BackboneError(f"backbone {ref} must return one feature tensor, "
                            f"but forward() returned {type(out).__name__}",
                            hint="wrap the module so that forward() returns the hidden states "
                                 "(B, T, D) or the feature map (B, C, H, W)")
