"""PyTorch weight files (``pytorch_model.bin``, ``*.pt``) read as weights only, never as code.

A damaged or hostile file fails inside ``torch.load`` with whatever its parser raises (pickle's
``UnpicklingError``, ``EOFError``, miniz's ``RuntimeError``); here each becomes the caller's error
naming the file, so transformers, which opens the same files, is only handed ones torch can read.
"""
from __future__ import annotations

import os
import pickle
import struct
import zipfile

from ..errors import AdaptGraphError, FileAccessError
from .bounds import bound_of, too_large
from .oserrors import os_failure
from .reading import _open_regular

# what torch.load raises for bytes it cannot read as weights (the names of the parser's own errors)
UNREADABLE = (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
              AttributeError, ImportError, zipfile.BadZipFile, struct.error, UnicodeDecodeError)
HINT = "the file is damaged or is not what it is named; save it again with torch.save or save_pretrained"


def load_torch(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the PyTorch weights"):
    """The state dict (a ``dict``) in ``path``, read with ``weights_only`` (no code runs); ``error`` naming
    the file otherwise.

    A zip archive (torch.save's format since 1.6) is memory-mapped, so checking a large file costs little."""
    import torch

    with _open_regular(path, error, what) as f:  # a regular file: a FIFO or a device is refused at once
        size = os.fstat(f.fileno()).st_size
        if size > bound_of("copy"):
            raise too_large(path, "copy", error)
        archive = zipfile.is_zipfile(f)
        try:
            f.seek(0)
            if archive:
                state = torch.load(os.fspath(path), map_location="cpu", weights_only=True, mmap=True)
            else:
                state = torch.load(f, map_location="cpu", weights_only=True)  # the format before 1.6
        except OSError as e:
            raise os_failure(e, path, f"cannot read {what}", error) from None
        except UNREADABLE as e:
            raise error(f"{os.fspath(path)}: not a PyTorch weights file ({_reason(e)})", hint=HINT) from None
    if not isinstance(state, dict):
        raise error(f"{os.fspath(path)}: not a PyTorch weights file (it holds a {type(state).__name__}, "
                    "not a mapping of names to tensors)", hint=HINT)
    return state


def _reason(e: Exception) -> str:
    if isinstance(e, pickle.UnpicklingError):  # torch's message is a page on weights_only; say what it means
        return "its pickle is damaged or holds more than tensors, which is not read: code could run"
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first[:160]}" if first else type(e).__name__


def check_torch_file(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the PyTorch weights"
                     ) -> None:
    """``error`` unless ``load_torch`` reads ``path``; nothing is kept."""
    load_torch(path, error=error, what=what)
