"""The current folder a command runs in: it must exist, and a very long one must not stop torch loading.

Relative paths (``runs/``, ``-o x.safetensors``, ``csv:data.csv``) are read against the current folder,
so one that was deleted (``rm -rf`` of the folder a shell still stands in) is refused at once with one
line. Torch's math library (oneMKL) reads the current folder into a buffer of ``PATH_MAX`` bytes when
torch is imported and aborts the process ("Intel oneMKL FATAL ERROR", exit 2) when it does not fit or
no longer exists; a command in a folder that deep imports torch from ``/`` and comes back.
"""
from __future__ import annotations

import os

from ..errors import FileAccessError
from .oserrors import os_failure

LONG_PATH = 4000  # bytes; Linux's PATH_MAX is 4096, and a cwd of 4,100 bytes made torch's import abort


def check_working_folder() -> None:
    """FileAccessError when the current folder is gone; torch imported safely when its path is long."""
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        raise FileAccessError("the current folder no longer exists (it was deleted or moved)",
                              hint="cd to a folder that exists and run the command again") from None
    except OSError as e:
        raise os_failure(e, ".", "cannot use the current folder") from None
    if len(os.fsencode(cwd)) >= LONG_PATH:
        _import_torch_from_root()


def _import_torch_from_root() -> None:
    """``import torch`` with ``/`` as the current folder, then back to the folder the command runs in."""
    try:
        here = os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    except OSError as e:
        raise os_failure(e, ".", "cannot use the current folder") from None
    try:
        os.chdir("/")
        try:
            import torch  # noqa: F401 - loaded now, with a current folder its libraries can read
        except ImportError:
            pass  # the command that needs torch says so
        finally:
            os.fchdir(here)
    finally:
        os.close(here)
