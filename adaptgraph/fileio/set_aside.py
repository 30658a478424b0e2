"""Files of a claimed folder kept aside while a command replaces them, given back if it fails.

``train --overwrite`` moves the finished run's files into a folder inside the run folder; the new run's
failure gives them back, its success drops them. A kill leaves them aside, and the next holder of the
folder's claim gives them back before anything else (all of it only under the folder's claim).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from ..errors import AdaptGraphError
from .oserrors import os_failure

__all__ = ["drop_aside", "give_back", "set_aside"]


def set_aside(folder: Path, aside: str, names: Sequence[str], error: type[AdaptGraphError], doing: str) -> None:
    """Move ``names`` (those that exist) from ``folder`` into ``folder/aside``, in that order."""
    kept = folder / aside
    try:
        kept.mkdir()
        for name in names:
            if (folder / name).exists():
                os.rename(folder / name, kept / name)
    except OSError as e:
        raise os_failure(e, folder, doing, error) from None


def give_back(folder: Path, aside: str, names: Sequence[str], error: type[AdaptGraphError], doing: str) -> None:
    """Put the files of ``folder/aside`` back over ``folder``'s, in the order of ``names``; a name with none
    aside is removed from ``folder`` (the failed command's file). Nothing to do when nothing is aside."""
    kept = folder / aside
    if not kept.is_dir():
        return
    try:
        for name in names:
            if (kept / name).exists():
                os.replace(kept / name, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        kept.rmdir()
    except OSError as e:
        raise os_failure(e, kept, doing, error, hint=f"move the files in {kept} back into {folder}") from None


def drop_aside(folder: Path, aside: str) -> None:
    """The command finished: what it replaced is removed."""
    shutil.rmtree(folder / aside, ignore_errors=True)
