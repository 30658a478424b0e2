"""Checks at the Python API's boundary: a wrong type or value is an ``ArgumentError`` naming the parameter,
not an ``AttributeError`` from deep inside, nor a file that the loader later refuses.

What ``compile`` accepts, ``save_adapters`` writes and ``load_adapters`` reads back: the seed bound here is
the one an adapter file's metadata is checked against (``adaptgraph.weights.file_checks``). The seed bound of
a run and the device check are shared with the command line's number flags (``adaptgraph.cli.number_flags``).
"""
from __future__ import annotations

import os
import re

from .errors import ArgumentError, UsageError

SEED_LIMIT = 2**63  # seeds are whole numbers 0 <= seed < 2**63, as adapter files hold them
SEED_MAX = 2**32 - 1  # what every seeded generator of a run takes (numpy's legacy seeds stop at 2^32 - 1)
DEVICE_HINT = "use cpu, cuda, cuda:N or auto (CUDA when present, else the CPU)"


def check_seed(value, param: str = "seed") -> int:
    """``value`` when it is a whole number (not a bool) in [0, 2**63); ArgumentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{param} must be a whole number (int), not {_shown(value)}",
                            hint=f"pass {param}=0, or another int from 0 to 2**63 - 1")
    if not 0 <= value < SEED_LIMIT:
        raise ArgumentError(f"{param} must be from 0 to 2**63 - 1, not {value}", hint=f"pass {param}=0")
    return value


def check_name(value, param: str, *, optional: bool = True) -> str | None:
    """``value`` when it is text (or None, when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ArgumentError(f"{param} must be a name (str){' or None' if optional else ''}, not {_shown(value)}")
    return value


def check_path(value, param: str) -> str | os.PathLike:
    """``value`` when it is a path (str or os.PathLike)."""
    if not isinstance(value, (str, os.PathLike)):
        raise ArgumentError(f"{param} must be a path (str or pathlib.Path), not {_shown(value)}")
    return value


def check_flag(value, param: str) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"{param} must be True or False, not {_shown(value)}")
    return value


def check_instance(value, kinds: tuple, param: str, expected: str):
    if not isinstance(value, kinds):
        raise ArgumentError(f"{param} must be {expected}, not {_shown(value)}")
    return value


def _shown(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


_DEVICE = re.compile(r"cpu|cuda(?::([0-9]{1,4}))?")


def resolve_device(name: str):
    """The ``torch.device`` a user's device name means here; UsageError when this machine has no such device."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = _DEVICE.fullmatch(name)
    if match is None:
        raise UsageError(f"unknown device '{name}'", hint=DEVICE_HINT)
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError(f"device '{name}' is not available: torch sees no CUDA GPU on this machine "
                         "(no GPU, no driver, or a torch built without CUDA)",
                         hint="use --device cpu, or auto to use a GPU only when there is one")
    index, count = int(match.group(1) or 0), torch.cuda.device_count()
    if index >= count:
        raise UsageError(f"device '{name}' does not exist: this machine has {count} CUDA device"
                         f"{'s' * (count != 1)} (cuda:0 to cuda:{count - 1})", hint=DEVICE_HINT)
    return torch.device(name)
