"""``get_backbone``: load a backbone once per reference and reuse it.

Loading a real model takes seconds, and search, scoring and training each compile many specs
against one backbone, so every caller that takes a reference loads through here.
"""
from __future__ import annotations

import torch

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.registry import load_backbone
from adaptgraph.errors import SpecError
from adaptgraph.progress import step

_BACKBONES: dict[tuple[str, bool], Backbone] = {}


def get_backbone(ref: str | torch.nn.Module | Backbone | None, example_inputs: tuple | None = None,
                 trust_code: bool = False) -> Backbone:
    """The ``Backbone`` for ``ref``: a loaded one as is, a reference from the cache, a module wrapped.

    A string reference is loaded once per ``(ref, trust_code)``; a module (with ``example_inputs``)
    is wrapped anew on each call, since the caller may change it between calls.
    """
    if ref is None:
        raise SpecError("no backbone: the spec has no `backbone` statement and none was given",
                        hint='add `backbone "hf:minilm"` to the spec or pass --backbone REF')
    if isinstance(ref, Backbone):
        return ref
    if isinstance(ref, str):
        key = (ref, trust_code)
        if key not in _BACKBONES:
            with step(f"loading {ref}"):
                _BACKBONES[key] = load_backbone(ref, trust_code=trust_code)
        return _BACKBONES[key]
    return load_backbone(ref, example_inputs=example_inputs, trust_code=trust_code)
