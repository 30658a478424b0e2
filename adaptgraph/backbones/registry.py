"""Backbone reference schemes (``zoo:``, ``hf:``, ``timm:``, ``py:``) and ``load_backbone``.

A scheme is one registration: ``register_scheme("zoo", load_zoo, refs=zoo_refs)``.
The loader gets the text after ``SCHEME:`` and the caller's ``LoadOptions`` and
returns a ``Backbone``. ``zoo`` (``zoo/catalog.py``) is the simplest example.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Callable

import torch

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.module_source import as_input_tuple, wrap_module
from adaptgraph.errors import BackboneError, did_you_mean
from adaptgraph.registry import Registry, describe


@dataclass(frozen=True)
class LoadOptions:
    """What the caller of ``load_backbone`` allowed or supplied."""

    trust_code: bool = False
    example_inputs: tuple | None = None


@dataclass(frozen=True)
class Scheme:
    """One registered reference scheme."""

    name: str
    load: Callable[[str, LoadOptions], Backbone]
    refs: Callable[[], list[str]]  # known full references, for "did you mean"

    def __repr__(self) -> str:  # names the loader in the registry's refusal of a second ``NAME``
        return describe(self.load)


SCHEMES: Registry[Scheme] = Registry("backbone scheme", BackboneError)


def register_scheme(name: str, load: Callable[[str, LoadOptions], Backbone],
                    refs: Callable[[], list[str]] = list) -> None:
    """Make ``NAME:REST`` references load with ``load(REST, options)``; a scheme already registered is
    refused (BackboneError naming both loaders)."""
    SCHEMES.register(name, Scheme(name, load, refs))


def schemes() -> list[str]:
    """The registered scheme names, sorted."""
    return sorted(SCHEMES)


def backbone_refs() -> list[str]:
    """Every reference known without looking at the disk (zoo names, ``hf:minilm``)."""
    return sorted(ref for scheme in SCHEMES.values() for ref in scheme.refs())


def load_backbone(ref: str | torch.nn.Module, *, trust_code: bool = False,
                  example_inputs: tuple | None = None) -> Backbone:
    """Load a backbone from a reference such as ``"zoo:vit-tiny"``, or wrap a module.

    A ``torch.nn.Module`` needs ``example_inputs``; for references they are
    optional and replace the backbone's own. ``py:`` references run code and
    need ``trust_code=True``.
    """
    options = LoadOptions(trust_code, as_input_tuple(example_inputs))
    if isinstance(ref, torch.nn.Module):
        return wrap_module(ref, options.example_inputs, f"module:{type(ref).__name__}")
    if not isinstance(ref, str):
        raise BackboneError(f"a backbone reference must be a string or a torch.nn.Module, "
                            f"not {type(ref).__name__}",
                            hint=f"write one of {', '.join(backbone_refs())}")
    scheme, rest = _split(ref.strip())
    backbone = SCHEMES.lookup(scheme).load(rest, options)
    if options.example_inputs is not None:
        backbone = dataclasses.replace(backbone, example_inputs=options.example_inputs)
    return backbone


def unknown_name_error(ref: str, known: list[str], fallback: str) -> BackboneError:
    """The error for a reference whose scheme is known but whose name is not.

    The hint suggests the closest of ``known``, or says ``fallback`` when none is close.
    """
    return BackboneError(f"unknown backbone {ref!r}", hint=did_you_mean(ref, known) or fallback)


def _split(ref: str) -> tuple[str, str]:
    scheme, sep, rest = ref.partition(":")
    if sep and scheme.lower() in SCHEMES and rest:
        return scheme.lower(), rest
    listed = ", ".join(f"{s}:" for s in schemes())
    hint = _scheme_hint(scheme, rest) or did_you_mean(ref, backbone_refs())
    hint = (hint + " " if hint else "") + f"a reference starts with one of {listed}"
    raise BackboneError(f"unknown backbone reference {ref!r}", hint=hint)


def _scheme_hint(scheme: str, rest: str) -> str:
    """``tim:vit_small`` -> did you mean 'timm:vit_small'? (the registry, not the spec, knows the schemes)."""
    # Schemes are short words: a stricter cutoff than names get, so 'foo' does not suggest 'zoo'.
    close = difflib.get_close_matches(scheme.lower(), schemes(), n=3, cutoff=0.75) if rest else []
    return "did you mean " + " or ".join(repr(f"{s}:{rest}") for s in close) + "?" if close else ""
