"""Bounded reads of regular files: a FIFO, a device or a folder is refused before anything blocks."""
from __future__ import annotations

import os
import stat

from ..errors import AdaptGraphError, FileAccessError
from .bounds import bound_of, too_large
from .oserrors import os_failure

NOT_REGULAR_HINT = "name a regular file (not a folder, a FIFO, a device or a socket)"
_READ: set[tuple[int, int]] = set()  # (device, inode) of every file this process read through the door


def was_read(path) -> bool:
    """Whether ``path`` (links followed) is a file this process read through the door: an input."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return False
    return (info.st_dev, info.st_ino) in _READ


def read_bytes(path, kind: str, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the file",
               keep_excess: bool = False) -> bytes:
    """At most the bound of ``kind`` bytes of the regular file ``path``; ``error`` when it holds more.

    ``keep_excess``: return bound + 1 bytes instead of refusing (for callers with their own message).
    """
    limit = bound_of(kind)
    with _open_regular(path, error, what) as f:
        try:
            raw = f.read(limit + 1)
        except OSError as e:
            raise os_failure(e, path, f"cannot read {what}", error) from None
    if len(raw) > limit and not keep_excess:
        raise too_large(path, kind, error)
    return raw


def read_text(path, kind: str, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the file",
              encoding: str = "utf-8-sig") -> str:
    """``read_bytes`` decoded, line endings read as ``\n`` (Windows' CRLF and old Macs' CR too, as Python's text
    mode reads them: line endings are not text, so every copy of a file reads the same); bytes that are not
    UTF-8 are ``error`` naming the line and the byte."""
    raw = read_bytes(path, kind, error=error, what=what)
    refuse_nul(raw, path, error, what)
    try:
        return raw.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise error(f"{os.fspath(path)}:{line}: {what} is not UTF-8 text (byte 0x{raw[e.start]:02x})",
                    hint="save it as UTF-8") from None


def refuse_nul(raw: bytes, path, error: type[AdaptGraphError] = FileAccessError, what: str = "the file",
               hint: str = "save it as UTF-8") -> None:
    """``error`` naming the line when ``raw`` holds a NUL byte: no text file does, but a binary file does, and
    so does UTF-16, whose ASCII letters decode as UTF-8 with a NUL between each (read as text, silently)."""
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise error(f"{os.fspath(path)}:{line}: {what} holds a NUL byte, so it is not text (UTF-16? binary?)",
                    hint=hint)


def is_regular_file(path) -> bool:
    """True for a regular file (or a link to one); never blocks, never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _is_socket(path) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _open_regular(path, error, what):
    """The file open for reading in binary mode, checked to be regular (O_NONBLOCK: a FIFO does not block)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if _is_socket(path):  # open() says ENXIO, "no such device", which names the wrong thing
            raise error(f"{os.fspath(path)}: cannot read {what}: it is a socket, not a regular file",
                        hint=NOT_REGULAR_HINT) from None
        raise os_failure(e, path, f"cannot read {what}", error) from None
    except ValueError as e:  # a NUL character in the path
        raise error(f"{os.fspath(path)!r}: cannot read {what} ({e})", hint="check the path") from None
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
            raise error(f"{os.fspath(path)}: cannot read {what}: it is {kind}, not a regular file",
                        hint=NOT_REGULAR_HINT)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        _READ.add((info.st_dev, info.st_ino))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
