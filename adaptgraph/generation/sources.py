"""What ``adaptgraph generate`` continues text with: a trained run, an adapter file, or a spec (its
adapters zero-initialised, so the base model)."""
from __future__ import annotations

import json
from pathlib import Path

from ..backbones import get_backbone
from ..compiler import compile
from ..errors import TaskError
from ..interop.source import open_source
from ..spec import load

SPEC_SUFFIX = ".adapt"


def open_generator(source: str | Path, backbone=None, *, trust_code: bool = False):
    """``(compiled model, backbone)`` for a run folder, an adapter ``.safetensors`` file or a ``.adapt`` spec."""
    path = Path(source)
    if path.suffix == SPEC_SUFFIX and path.is_file():
        spec = load(path)
        bb = get_backbone(backbone if backbone is not None else spec.backbone, trust_code=trust_code)
        return compile(spec, bb), bb
    if not path.exists():
        raise TaskError(f"{source}: no such run folder, adapter file or spec",
                        hint="give the --out folder of `adaptgraph train` on an lm: task, or a .adapt spec")
    opened = open_source(path, backbone, trust_code=trust_code)
    head = json.loads(opened.saved.metadata.get("head", "{}"))
    if head and head.get("kind") != "lm":
        raise TaskError(f"{source} was trained on task {opened.saved.metadata.get('task', '?')!r} (a classification "
                        f"head of {head.get('num_classes', '?')} classes), not on a language-model task",
                        hint="generate continues text with a run of an lm: task (or a spec on a decoder)")
    return opened.model, opened.backbone
