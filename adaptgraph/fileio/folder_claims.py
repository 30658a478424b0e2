"""Output folders that one run at a time writes to, and that never get a user's files written over.

``train``, ``search``, ``score``, ``export``, ``import`` and ``merge`` claim their ``--out DIR``
before they write anything:

* DIR must be new, empty, or a folder adaptgraph made for the same kind of run
  (one of ``KINDS``). A folder that holds anything else is refused, so a
  user's own ``spec.adapt`` or ``log.jsonl`` is never written over.
* The claim is an OS lock (``flock``) on ``DIR/.adaptgraph.lock``. The file also
  marks the folder as adaptgraph's and records who holds it (kind, pid, host,
  command, start time), for the message a second run gets; a finished run leaves
  only its kind there, so a merged model's folder carries no host name or
  command line. The kernel drops the
  lock when its process ends, however it ends (``kill -9`` included): a lock file
  left behind never blocks, only a running holder does.

Without ``fcntl`` (Windows) the folder checks still apply but nothing is locked.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Iterator, Mapping

from ..errors import AdaptGraphError, RunFolderError, some_names
from .folders import (check_outputs, link_or_copy, make_folder, refuse_unreplaceable, remove_abandoned_stages,
                      remove_made, staged_folder)
from .oserrors import os_failure
from .writing import TEMPORARY_MARK

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = ["FolderClaim", "check_folder", "claim_folder", "new_run_folder", "replaced_folder"]

LOCK_FILE = ".adaptgraph.lock"
KINDS = ("train", "search", "score", "peft-export", "peft-import", "merge")
NEW_FOLDER_HINT = "choose a new or empty --out folder; adaptgraph writes only into folders it made itself"


class FolderClaim:
    """A locked run folder; ``release()`` (or leaving a ``with`` block, or the process ending) unlocks it."""

    def __init__(self, path: Path, kind: str, fd: int, made: Path | None = None, outputs: list[str] | None = None,
                 new_lock: bool = False):
        self.path, self.kind, self._fd = path, kind, fd
        self.new_lock = new_lock
        """The claim created the lock file in a folder that was there: a failed command removes it again, so that
        an empty folder of the user's is not left marked as another kind's run."""
        self.outputs = outputs
        """What the folder's record lists as adaptgraph's files (``replaced_folder``), or None: not recorded."""
        self.made = made
        """The outermost folder the claim created (the folder itself, or a parent of it), or None: a command
        that fails before writing into the folder leaves none of them."""

    def release(self, failed: bool = False) -> None:
        """Unlock; ``failed``: the command did not finish, so a folder this claim made and nothing was
        written into is removed again (a run's partial files, a log, are kept)."""
        if self._fd is not None:
            if failed and self.made:
                discard_if_unused(self.path, self.made)  # while still locked: no other run can have claimed it
            elif failed and self.new_lock:
                _remove_lone_lock(self.path)
            try:  # a finished folder keeps only its kind: no host, pid or command travels with a shared model
                _write_record(self._fd, _record(self.kind, self.outputs))
            except OSError:
                pass  # the mark is a courtesy; the folder's files are already complete
            os.close(self._fd)  # closing the last descriptor of the open file drops the flock
            self._fd = None

    def __enter__(self) -> "FolderClaim":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.release(failed=exc_type is not None)

    def __del__(self) -> None:
        self.release()


class RunFolder(type(Path())):
    """A path made by ``new_run_folder``; ``made`` is the outermost folder it created (``runs/`` itself when
    that was missing), for ``discard_if_unused`` after a failed run."""

    made: Path


def new_run_folder(kind: str, root: str | os.PathLike = "runs") -> RunFolder:
    """A new folder ``ROOT/KIND-YYYYmmdd-HHMMSS`` (``-1``, ``-2``, ... when that exists), made now.

    ``mkdir`` without ``exist_ok`` reserves the name, so two runs started in the same second
    get different folders and an existing folder is never reused.
    """
    made_root = _make_root(Path(root))
    base = Path(root) / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(10_000):
        path = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()  # the root exists: an existing name is a taken name, nothing else
            folder = RunFolder(path)
            folder.made = made_root or folder
            return folder
        except FileExistsError:
            continue
        except OSError as e:
            raise os_failure(e, path, "cannot make the run folder", RunFolderError, hint="pass --out DIR") from None
    raise RunFolderError(f"{base}: 10,000 run folders of this second exist already", hint="pass --out DIR")


def _make_root(root: Path) -> Path | None:
    """``root`` (``runs/``) made if missing, apart from the run folder, so that a ``runs`` that is a file
    or a dangling link is named, not mistaken for a taken run name (a dangling ``runs`` link read as
    10,000 run folders of this second). The outermost folder made, or None."""
    return make_folder(root, RunFolderError, "cannot make run folders in it",
                       hint=f"move {root} away, or pass --out DIR")


def _remove_lone_lock(path: Path) -> bool:
    """Remove the lock file of a folder that holds nothing else; whether the folder is empty now."""
    try:
        if {p.name for p in path.iterdir()} <= {LOCK_FILE}:
            (path / LOCK_FILE).unlink(missing_ok=True)
            return True
    except OSError:
        pass  # it holds files of the run (a log), or is gone: keep them
    return False


def discard_if_unused(path: Path, made: Path | None = None) -> None:
    """Remove a folder a failed run made and left empty (or holding only its lock file), and the empty
    folders above it up to ``made`` (the outermost one the run created, see ``folders.remove_made``)."""
    path = Path(path)
    if _remove_lone_lock(path):
        remove_made(path, made if made is not None else path)


def check_folder(path: str | os.PathLike, kind: str, inputs: Mapping[str, object] = {},
                 replaced: bool = False) -> None:
    """RunFolderError unless ``path`` is missing, empty, or adaptgraph's folder of a ``kind`` run, and is
    not, does not hold and does not sit inside any of ``inputs`` (what -> path, see
    ``adaptgraph.fileio.input_paths``); ``replaced``: the folder will be swapped for a staged one
    (``folders.staged_folder``), so it must be a folder that can be (``folders.refuse_unreplaceable``).
    Changes nothing."""
    out = Path(path)
    if replaced:
        refuse_unreplaceable(out, RunFolderError)
    check_outputs(out, inputs, RunFolderError)
    if not out.exists():
        if out.is_symlink():  # mkdir would say "it already exists" of a name that leads nowhere
            raise RunFolderError(f"{out} is a symbolic link to nothing (a missing target or a loop of links)",
                                 hint="give --out a folder path, or point the link at a folder")
        return
    if not out.is_dir():
        raise RunFolderError(f"{out} exists and is not a folder", hint="give --out a folder path")
    lock = out / LOCK_FILE
    _check_owner(out, _read_holder(lock) if lock.is_file() else {}, kind)


def claim_folder(path: str | os.PathLike, kind: str, inputs: Mapping[str, object] = {},
                 replaced: bool = False) -> FolderClaim:
    """Create ``path`` if needed, check that it may be written (see the module docstring and
    ``check_folder``, which ``replaced`` is passed to) and lock it.

    RunFolderError naming the holder when another process has the folder.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    out = Path(path)
    check_folder(out, kind, inputs, replaced)  # before creating the lock file: a refused folder is left as it was
    made = make_folder(out, RunFolderError, "cannot create the run folder", hint="choose a folder you can write to")
    new_lock = made is None and not os.path.lexists(out / LOCK_FILE)
    try:
        # never through a link: a planted .adaptgraph.lock -> ~/.bashrc must not be truncated
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        remove_made(out, made)  # e.g. no inode left for the lock file: no empty folder stays behind
        raise os_failure(e, out, "cannot create the run folder or its lock file", RunFolderError,
                         hint="choose a folder you can write to") from None
    locked = False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise RunFolderError(f"{out / LOCK_FILE} is not a plain file of its own (a link or a device)",
                                 hint=NEW_FOLDER_HINT)
        if not _lock(fd, out):
            raise RunFolderError(f"{out} is in use by {_describe(_read_holder(out / LOCK_FILE))}",
                                 hint="wait for that run to finish (or stop it), or choose another --out folder")
        locked = True
        holder = _read_holder(out / LOCK_FILE)
        _check_owner(out, holder, kind)  # again, now that no one else can write
        outputs = _outputs(holder)
        try:
            _write_holder(fd, kind, outputs)
        except OSError as e:  # a full disk: the lock file is named, not an anonymous refusal
            raise os_failure(e, out / LOCK_FILE, "cannot write the run folder's lock file", RunFolderError) from None
        _remove_abandoned_temporaries(out)
    except BaseException:
        if made is not None and locked:  # still under our lock, so no other run has claimed it: a full disk
            discard_if_unused(out, made)  # on the lock file left the folder we made holding only that empty file
        os.close(fd)  # otherwise the folder stays: unlocked, it may be another run's already
        raise
    return FolderClaim(out, kind, fd, made, outputs, new_lock)


@contextlib.contextmanager
def replaced_folder(path: str | os.PathLike, kind: str, inputs: Mapping[str, object] = {},
                    error: type[AdaptGraphError] = RunFolderError) -> Iterator[Path]:
    """Claim ``path`` (``claim_folder``) and yield a new folder beside it, marked as a ``kind`` folder, to
    write the command's files into; it replaces ``path`` only once the block ends without an error
    (``folders.staged_folder``). The files of one output belong together (a PEFT folder's weights and
    config, a spec and its adapters): a failure half way, a disk that fills up, leaves the old folder whole,
    never new weights beside an old config."""
    with claim_folder(path, kind, inputs, replaced=True) as claim:
        remove_abandoned_stages(claim.path)
        with staged_folder(claim.path, error) as stage:
            yield stage
            _finish_stage(claim, stage, kind, error)


def _finish_stage(claim: FolderClaim, stage: Path, kind: str, error: type[AdaptGraphError]) -> None:
    """Before the swap: keep the user's files, and mark the new folder with its kind and its own files."""
    outputs = sorted(name for name in os.listdir(stage) if name != LOCK_FILE)
    _keep_users_files(claim, stage, outputs, error)
    try:  # a new private folder of our own: its lock file is created, never opened through a link
        fd = os.open(stage / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:  # the folder swapped in is marked like the one it replaces, and says which files are ours
            _write_record(fd, _record(kind, outputs))
        finally:
            os.close(fd)
    except OSError as e:
        raise os_failure(e, claim.path, "cannot write the new folder", error) from None


def _keep_users_files(claim: FolderClaim, stage: Path, outputs: list[str], error: type[AdaptGraphError]) -> None:
    """Carry into ``stage`` what the replaced folder holds that is not adaptgraph's: a user's notes, a model
    card, a spec ``select -o`` saved there. adaptgraph's own earlier files are those the folder's record lists
    (``outputs``); they are replaced, so no stale weights or tokenizer files outlive the new ones. A folder
    whose record lists none (written before the list was kept) and holds files the new output does not
    rewrite is refused: which of them were a user's cannot be told, and none is deleted."""
    old = claim.path
    if not old.is_dir():
        return
    theirs = set(os.listdir(old)) - {LOCK_FILE} - set(outputs) - set(claim.outputs or ())
    if not theirs:
        return
    shown = some_names(sorted(theirs))
    if claim.outputs is None:
        raise error(f"{old} holds {shown}, which this {claim.kind} does not write and which an older adaptgraph "
                    "did not record as its own; nothing was replaced or deleted",
                    hint="move those out of the folder (or delete them if they are old outputs), then run again; "
                         "or choose another --out")
    for name in sorted(theirs):
        try:
            link_or_copy(old / name, stage / name)
        except OSError as e:
            raise os_failure(e, old / name, "cannot keep this file in the new folder", error) from None


ABANDONED_TEMPORARY = re.compile(r"\..+\." + re.escape(TEMPORARY_MARK) + r"[0-9a-f]{8}\.tmp")
"""An atomic write's temporary file (``writing.write_bytes_atomic``: ``.NAME.adaptgraph-XXXXXXXX.tmp``)."""


def _remove_abandoned_temporaries(out: Path) -> None:
    """Remove the temporary files a killed run left in its folder (``kill -9`` mid-write): under the claim
    nothing else writes there, so every one is abandoned. Never read, they only took space."""
    try:
        entries = [e for e in os.scandir(out) if ABANDONED_TEMPORARY.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _check_owner(out: Path, holder: dict, kind: str) -> None:
    """The folder is adaptgraph's for ``kind`` (its lock file says so), or holds nothing but a lock file."""
    made_for = holder.get("kind")
    if made_for in KINDS:
        if made_for != kind:
            raise RunFolderError(f"{out} holds a {made_for} run, so a {kind} run cannot write there",
                                 hint=f"choose another --out folder for the {kind} run")
        _check_plain(out)
        return
    try:
        others = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    except OSError as e:
        raise RunFolderError(f"{out}: cannot list the folder ({e.strerror or e})", hint=NEW_FOLDER_HINT) from None
    if others:
        raise RunFolderError(f"{out} is not empty and was not made by adaptgraph (it holds {some_names(others)}); "
                             "its files are not written over", hint=NEW_FOLDER_HINT)


def _check_plain(out: Path) -> None:
    """adaptgraph writes only plain files: a link, FIFO or device planted in its folder is refused, so that a
    resumed or rerun command neither writes through it nor reports it as one of its results."""
    try:
        planted = sorted(p.name for p in out.iterdir()
                         if p.name != LOCK_FILE and (p.is_symlink() or not (p.is_file() or p.is_dir())))
    except OSError as e:
        raise RunFolderError(f"{out}: cannot list the folder ({e.strerror or e})", hint=NEW_FOLDER_HINT) from None
    if planted:
        raise RunFolderError(f"{out / planted[0]}: refusing a run folder that holds a symbolic link or a special "
                             f"file adaptgraph did not write ({', '.join(planted[:5])})",
                             hint="remove it, or choose another --out folder")


def _lock(fd: int, out: Path) -> bool:
    """Take the exclusive lock without waiting; False when another open file holds it."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:  # a file system without locks: refuse rather than run unprotected
        raise RunFolderError(f"{out}: cannot lock the run folder ({e.strerror or e})",
                             hint="choose an --out folder on a file system that supports locks (a local disk)") from None
    return True


def _write_holder(fd: int, kind: str, outputs: list[str] | None = None) -> None:
    holder = {**_record(kind, outputs), "pid": os.getpid(), "host": socket.gethostname(),
              "command": " ".join(sys.argv)[:300], "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    _write_record(fd, holder)


def _record(kind: str, outputs: list[str] | None) -> dict:
    return {"kind": kind} if outputs is None else {"kind": kind, "outputs": outputs}


def _outputs(holder: dict) -> list[str] | None:
    """The record's list of adaptgraph's files (plain names only), or None."""
    outputs = holder.get("outputs")
    if not isinstance(outputs, list) or not all(isinstance(n, str) and n and "/" not in n and n not in (".", "..")
                                                for n in outputs):
        return None
    return outputs


def _write_record(fd: int, record: dict) -> None:
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def made_for(path: str | os.PathLike) -> str | None:
    """The kind of run that claimed ``path`` (what its lock file records), or None: no folder, no lock file of
    its own, or an unreadable record."""
    lock = Path(path) / LOCK_FILE
    if lock.is_symlink() or not lock.is_file():
        return None
    kind = _read_holder(lock).get("kind")
    return kind if kind in KINDS else None


def _read_holder(lock: Path) -> dict:
    """The lock file's record; {} when it is empty, damaged or unreadable (then the folder is not known as ours)."""
    try:
        with open(lock, "rb") as f:
            record = json.loads(f.read(4096).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another adaptgraph process (it has not written its details yet)"
    return (f"another adaptgraph {holder.get('kind', 'run')} (pid {holder['pid']} on {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')}: {holder.get('command', '?')})")
