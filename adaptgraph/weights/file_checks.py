"""Checks on what an adapter file hands back before any of it reaches a model.

A file can be damaged or edited by hand: its metadata must hold what adaptgraph wrote
(well-formed, of the right type), its tensors must be weights (no booleans, no complex
numbers, no NaN or infinity), and each tensor a model takes must have the model's name,
shape and dtype. Every problem is reported at once, as an ``AdapterFileError``.
"""
from __future__ import annotations

import torch

from ..errors import AdapterFileError, ProblemList, some_names
from ..fileio import parse_json

CORE_KEYS = ("spec", "spec_hash", "backbone", "seed")  # what every adapter file's metadata holds
INTEGER_KEYS = ("seed", "task_seed")
JSON_KEYS = ("head", "train_config")
EDITED_HINT = "the file was changed after adaptgraph wrote it: use the file `adaptgraph train` or save_adapters wrote"


def check_metadata(meta: dict[str, str], path, require: tuple[str, ...] = ()) -> None:
    """AdapterFileError unless ``meta`` has the core keys (and ``require``) and its known keys are well-formed."""
    problems = ProblemList()
    for key in (*CORE_KEYS, *require):
        if key not in meta:
            problems.add(f"{path}: the metadata has no {key!r}", hint=EDITED_HINT)
    for key in INTEGER_KEYS:
        value = meta.get(key)
        if value is not None and not (value.isascii() and value.isdigit() and int(value) < 2**63):
            problems.add(f"{path}: the metadata's {key!r} is {value[:40]!r}, not a whole number below 2**63",
                         hint=EDITED_HINT)
    for key in JSON_KEYS:
        if key in meta and json_object(meta[key]) is None:
            problems.add(f"{path}: the metadata's {key!r} is not a JSON object", hint=EDITED_HINT)
    problems.raise_if_any(AdapterFileError)


def json_object(text: str) -> dict | None:
    """``text`` parsed as a JSON object by the door's strict parser (no NaN or infinity, no key given twice,
    no number of thousands of digits, no nesting past the stack), or None when it is not one."""
    try:
        value = parse_json(text, "metadata", error=AdapterFileError)
    except AdapterFileError:
        return None
    return value if isinstance(value, dict) else None


def check_tensor_values(tensors: dict[str, torch.Tensor], path) -> None:
    """AdapterFileError for tensors that no weight can be: boolean or complex, or holding NaN or infinity."""
    problems = ProblemList()
    for name, t in sorted(tensors.items()):
        if t.dtype == torch.bool or t.is_complex():
            problems.add(f"{path}: tensor {name!r} has dtype {_dtype(t.dtype)}, which no weight has",
                         hint=EDITED_HINT)
        elif t.is_floating_point() and not bool(torch.isfinite(t).all()):
            problems.add(f"{path}: tensor {name!r} holds NaN or infinite values",
                         hint="the training that wrote it diverged (lower the learning rate and retrain), "
                              "or the file was damaged")
    problems.raise_if_any(AdapterFileError)


def check_state(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], path, what: str = "the model"
                ) -> None:
    """AdapterFileError unless ``given`` has exactly the names of ``expected``, each with its shape and dtype.

    A floating tensor may come in another floating width (a half-precision copy loads into a
    float32 model), never as an integer, or as another type of the same width (bytes read as
    int32 or bfloat16 instead of float32 or float16 would be other numbers).
    """
    problems = ProblemList()
    missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if missing:
        problems.add(f"{path}: {what} needs {some_names(missing, quote=True)}, which the file lacks", hint=EDITED_HINT)
    if extra:
        problems.add(f"{path}: the file has {some_names(extra, quote=True)}, which {what} does not have", hint=EDITED_HINT)
    for name in sorted(set(expected) & set(given)):
        want, got = expected[name], given[name]
        if tuple(got.shape) != tuple(want.shape):
            problems.add(f"{path}: {name!r} has shape {list(got.shape)} in the file, {list(want.shape)} in {what}",
                         hint=EDITED_HINT)
        elif not _same_kind(got.dtype, want.dtype):
            problems.add(f"{path}: {name!r} is {_dtype(got.dtype)} in the file, {_dtype(want.dtype)} in {what}",
                         hint=EDITED_HINT)
    problems.raise_if_any(AdapterFileError)


def _same_kind(got: torch.dtype, want: torch.dtype) -> bool:
    if got == want:
        return True
    return got.is_floating_point and want.is_floating_point and got.itemsize != want.itemsize


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
