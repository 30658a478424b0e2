"""Temporary files and folders beside a target, made exclusively, named relative to the caller's path.

``tempfile.mkstemp`` and ``mkdtemp`` return ``os.path.abspath`` of what they made, which asks the OS for
the current folder: in a current folder deeper than PATH_MAX that call fails after the file exists, so
the file is left behind and the write fails ("name too long") although every relative name was short.
These make the same exclusive names (never opening anything planted there) without that call.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["temp_file", "temp_folder", "umask"]

ATTEMPTS = 100
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temp_file(parent: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """``(fd, path)`` of a new empty file ``parent/PREFIX<random>SUFFIX``, mode 0600, open for writing."""
    for _ in range(ATTEMPTS):
        path = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, _FLAGS, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent} after {ATTEMPTS} attempts")


def temp_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder ``parent/PREFIX<random>``, mode 0700."""
    for _ in range(ATTEMPTS):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent} after {ATTEMPTS} attempts")


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (``os.umask`` sets as it reads)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
