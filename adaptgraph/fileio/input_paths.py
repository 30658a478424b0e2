"""The files and folders a command reads, found from its references, so that no output goes over them.

``hf:PATH`` names a model folder, ``csv:PATH`` / ``jsonl:PATH`` / ``lm:PATH`` a data file; other
references (``zoo:``, ``digits``, ``wordnet:``) read nothing a user could point an output at.
Each output folder is checked against these by ``adaptgraph.fileio.check_outputs`` (through
``claim_folder``'s ``inputs``), on resolved paths.
"""
from __future__ import annotations

from pathlib import Path

FILE_PROVIDERS = ("csv", "jsonl", "lm")


def input_paths(backbone=None, task=None, **named) -> dict[str, Path]:
    """``{what: path}`` for the backbone folder, the task's data file and any ``named`` paths that exist."""
    found = {}
    if isinstance(backbone, str) and backbone.startswith("hf:"):
        found["the backbone folder"] = backbone[3:].split("?", 1)[0]
    elif getattr(backbone, "ref", "").startswith("hf:"):
        found["the backbone folder"] = backbone.ref[3:].split("?", 1)[0]
    if isinstance(task, str):
        provider, _, body = task.partition(":")
        if provider in FILE_PROVIDERS and body:
            found["the task's data file"] = body.split("?", 1)[0]
    found.update({what: path for what, path in named.items() if path is not None})
    out = {}
    for what, path in found.items():
        p = Path(path).expanduser()
        if p.exists():
            out[what] = p
    return out


def source_input(source, adapter_file) -> Path:
    """What an ``export`` or ``merge`` of ``source`` reads: the whole run folder when ``source`` names one
    (its metrics and spec too, so an output may not sit inside it), else the adapter file itself."""
    return Path(source) if Path(source).is_dir() else Path(adapter_file)
