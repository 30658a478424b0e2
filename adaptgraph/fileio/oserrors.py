"""What the operating system refused, as one line that names the path and the reason."""
from __future__ import annotations

import errno
import os
import re

from ..errors import AdaptGraphError, FileAccessError

_REASONS = {  # errno -> (reason, what to do)
    errno.ENOSPC: ("the disk is full", "free some space or choose a folder on another disk"),
    errno.EDQUOT: ("the disk quota is used up", "free some space or choose a folder on another disk"),
    errno.EROFS: ("the file system is read-only", "choose a folder you can write to"),
    errno.EACCES: ("permission denied", "check the permissions, or choose a folder you can write to"),
    errno.EPERM: ("the operation is not permitted", "check the permissions, or choose another path"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter name"),
    errno.EISDIR: ("it is a folder, not a file", "name a file, not a folder"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.EEXIST: ("it already exists", "choose another path"),
    errno.ELOOP: ("a loop of symbolic links, or a link where adaptgraph follows none (it never writes through one)",
                  "remove the link, or name the file it points to"),
    errno.EXDEV: ("it is on another file system than its folder", "choose a path on one disk"),
    errno.EIO: ("an input/output error (a failing disk?)", "check the disk"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n)"),
    errno.ENXIO: ("no such device, or a FIFO with no writer", "name a regular file"),
}


def describe_os_error(e: OSError) -> tuple[str, str]:
    """``(reason, hint)`` for an OSError, in words."""
    reason, hint = _REASONS.get(e.errno, (e.strerror or str(e) or type(e).__name__, ""))
    return reason, hint


def os_failure(e: OSError, path, doing: str = "cannot use", error: type[AdaptGraphError] = FileAccessError,
               hint: str = "") -> AdaptGraphError:
    """The project's error for ``e``: ``{path}: {doing} ({reason})``, one line, with a hint."""
    reason, default_hint = describe_os_error(e)
    shown = path if path is not None else e.filename
    if shown is None:  # a write to the standard output (`> /dev/full`) names no file: say no "?" either
        return error(f"{doing} ({reason}) while writing the output or a file", hint=hint or default_hint)
    return error(f"{os.fspath(shown)}: {doing} ({reason})", hint=hint or default_hint)


def disk_nearly_full(path, min_free_bytes: int = 64 << 20, min_free_files: int = 100) -> OSError | None:
    """An ENOSPC ``OSError`` naming ``path`` when the file system that holds it (or would: its nearest
    existing folder) has less than ``min_free_bytes`` or ``min_free_files`` left, else None (also when that
    cannot be told). For a library that failed there without saying why: Ray's server cannot write its
    port file to a full session folder, and Ray reports only that it timed out waiting for the file."""
    folder = os.path.abspath(os.fspath(path))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows): cannot tell
        return None
    if st.f_bavail * st.f_frsize < min_free_bytes or (st.f_files > 0 and st.f_favail < min_free_files):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
    return None


_SAID_PLAINLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # a compiler's "error writing to X: No space left ..."


def library_os_error(e: BaseException) -> OSError | None:
    """The OSError inside a library's own error, or None: an OSError it was raised from (torch.compile's
    ``InductorError`` around a full ``TMPDIR``), an errno in its message (safetensors' Rust writer says
    ``... (os error 28)``, others ``[Errno 28]``), or the words of a full or read-only disk (a C compiler's)."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            return e
        found = re.search(r"\(os error (\d+)\)|\[Errno (\d+)\]", str(e))
        if found is not None:
            number = int(found.group(1) or found.group(2))
            return OSError(number, os.strerror(number))
        for number in _SAID_PLAINLY:
            if os.strerror(number) in str(e):
                return OSError(number, os.strerror(number))
        e = e.__cause__ or e.__context__
    return None
