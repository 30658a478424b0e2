"""Writes that never follow a link, never leave a half-written file, and say plainly what the OS refused.

Every file is written to a temporary name beside its target (created exclusively, so nothing
planted there is opened), fsynced, then renamed over the target. Renaming replaces a name, never
writes through it; even so, an existing target that is a link, a folder, a FIFO or a device is
refused, so that a link planted in an output folder is reported rather than quietly replaced.
A file the user names (``fmt --write``, ``-o``) may be a link: with ``follow_link`` the file the
link names is replaced, as editors do, and the link stays.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import AdaptGraphError, FileAccessError
from .bounds import bound_of, too_large
from .folders import make_parents, remove_made
from .oserrors import os_failure
from .temp_names import temp_file, umask

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
LINK_HINT = "adaptgraph writes only plain files it made; remove it, or choose another folder"
TEMPORARY_MARK = "adaptgraph-"
"""In every temporary file's name (``.NAME.adaptgraph-XXXXXXXX.tmp``): what tells an abandoned one from a user's."""


def write_bytes_atomic(path: str | Path, data: bytes, *, follow_link: bool = False, named: bool = False,
                       replaces_input: bool = False, error: type[AdaptGraphError] = FileAccessError,
                       mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring); ``error`` for whatever is refused.

    ``mode``: the new file's permission bits (a private cache entry: 0o600); by default those of the
    file it replaces, or the umask's for a new one.

    ``named`` (implied by ``follow_link``): a single file the user named as an output (``-o``, ``--out
    FILE``), which may not be a file this command read (``select s.json -o s.json`` would replace its
    scores), unless ``replaces_input`` (``fmt --write`` rewrites the spec it read, on purpose)."""
    path = Path(path)
    if follow_link:
        path = Path(os.path.realpath(path))  # the file the link names (or the path itself, when no link)
    if (named or follow_link) and not replaces_input:
        refuse_input(path, error)
    check_target(path, error)
    replaced = _stat_or_none(path)  # the file this write replaces: its protection, mode and owner carry over
    refuse_read_only(path, error, replaced)
    made = None
    try:
        made = make_parents(path)
        fd, tmp = temp_file(path.parent, f".{path.name[:200]}.{TEMPORARY_MARK}", ".tmp")
    except OSError as e:
        remove_made(path.parent, made)
        raise os_failure(e, path, "cannot write", error) from None
    try:
        os.fchmod(fd, _mode_for(replaced) if mode is None else mode)  # else temp_file's 0600 for every file
        if replaced is not None:
            _keep_owner(fd, replaced)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_target(path, error)  # again: a link planted while we wrote is refused, not replaced
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        remove_made(path.parent, made)  # -o new/c.safetensors on a full disk leaves no empty new/
        raise os_failure(e, path, "cannot write", error) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        remove_made(path.parent, made)
        raise


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None  # no such file: a new one


def _mode_for(replaced: os.stat_result | None) -> int:
    """The permission bits the written file gets: those of the file it replaces (``fmt --write`` on a
    shared 0644 spec keeps it readable to others; never its setuid, setgid or sticky bit, which new
    contents must not inherit), else what ``open`` would give a new file."""
    if replaced is None:
        return 0o666 & ~umask()
    return stat.S_IMODE(replaced.st_mode) & 0o777


def _keep_owner(fd: int, replaced: os.stat_result) -> None:
    """Give the new file the owner and group of the file it replaces, as far as this user may: the rename
    would otherwise hand a file root rewrote (``sudo adaptgraph fmt --write``) to root, and a file in a
    shared folder to the writer's own group. Only root may give a file away; anyone may keep a group
    they belong to."""
    uid = replaced.st_uid if os.geteuid() == 0 else -1
    try:
        os.fchown(fd, uid, replaced.st_gid)
    except OSError:
        pass  # a group this user is not in: the file stays in the user's group, as a copy would


def write_text_atomic(path: str | Path, text: str, **kw) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), **kw)


def refuse_input(path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """``error`` when ``path`` is a file this process read through the door (an input of the command)."""
    from .reading import was_read

    if was_read(path):
        raise error(f"{os.fspath(path)}: the output file is a file this command reads; writing it would "
                    "replace the input", hint="choose another output file")


def refuse_read_only(path: Path, error: type[AdaptGraphError] = FileAccessError,
                     replaced: os.stat_result | None = None) -> None:
    """``error`` when ``path`` (whose ``os.stat``, when the caller has it, is ``replaced``) is a file this
    user may not write, or that no one may (``chmod a-w``, which root's access ignores): renaming over it
    needs only the folder's permission, so without this a write-protected file would be replaced all the
    same."""
    replaced = replaced or _stat_or_none(path)
    if replaced is None:
        return  # no such file: nothing to protect
    if not stat.S_IMODE(replaced.st_mode) & 0o222 or not os.access(path, os.W_OK):
        raise error(f"{path}: cannot write (the file is read-only)",
                    hint="make it writable (chmod u+w) if it should be replaced, or choose another file")


def check_target(path: Path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """``error`` when ``path`` exists and is not a regular file (a link, a folder, a FIFO, a device)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise os_failure(e, path, "cannot write", error) from None
    if stat.S_ISLNK(info.st_mode):
        raise error(f"{path}: refusing to write over a symbolic link", hint=LINK_HINT)
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: cannot write the file (it is a folder, not a file)",
                    hint="name a file, not a folder")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: refusing to write over something that is not a regular file", hint=LINK_HINT)


def open_appender(path: str | Path, error: type[AdaptGraphError] = FileAccessError) -> "Appender":
    """``path`` opened for appending lines (``append_line``), never through a link, checked to be a regular
    file of its own."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise os_failure(e, path, "cannot append to", error) from None
    try:
        _check_own_regular(fd, path, error)
    except BaseException:
        os.close(fd)
        raise
    return Appender(fd)


class Appender:
    """A file open for appending whole lines, written straight to its descriptor: no buffer in between, so
    a line the disk refused is not still pending when the file is closed (a buffered file's ``close`` wrote
    it again, failed again, and that bare OSError replaced the error naming the file)."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError("I/O operation on a closed appender")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> "Appender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_line(f: Appender, line: str, path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """Append ``line`` to an ``open_appender`` file and fsync it; when the disk takes only part of it (a full
    disk), that part is cut off again, so the file still ends on a whole line."""
    fd, start = f.fileno(), None
    try:
        start = os.fstat(fd).st_size
        data = memoryview(line.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]  # a short write on a filling disk: the next one says why
        os.fsync(fd)
    except OSError as e:
        if start is not None:
            _cut_back(fd, start)
        raise os_failure(e, path, "cannot append to", error) from None


def _cut_back(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # the reader drops a cut-off last line (searcher.journal.read_journal)


def truncate_file(path: str | Path, size: int, error: type[AdaptGraphError] = FileAccessError) -> None:
    """Cut ``path`` to ``size`` bytes, never through a link."""
    try:
        fd = os.open(path, os.O_WRONLY | NOFOLLOW)
    except OSError as e:
        raise os_failure(e, path, "cannot repair", error) from None
    try:
        _check_own_regular(fd, Path(path), error)
        os.ftruncate(fd, size)
    except OSError as e:
        raise os_failure(e, path, "cannot repair", error) from None
    finally:
        os.close(fd)


def remove_file(path: str | Path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """Remove ``path`` if it is there (a link is removed itself, never what it names)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise os_failure(e, path, "cannot remove", error) from None


def copy_file(src: str | Path, dst: str | Path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """Copy the regular file ``src`` to ``dst`` atomically (bounded by ``ADAPTGRAPH_MAX_COPY_BYTES``)."""
    from .reading import read_bytes

    data = read_bytes(src, "copy", error=error)
    if len(data) > bound_of("copy"):  # pragma: no cover - read_bytes refuses first
        raise too_large(src, "copy", error)
    write_bytes_atomic(dst, data, error=error)


def _check_own_regular(fd: int, path: Path, error) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        raise error(f"{path}: refusing to write to something that is not a plain file of its own "
                    f"(a hard link, a FIFO or a device)", hint=LINK_HINT)
