"""Output folders against input folders, and folders replaced only once their new content is complete."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Iterator, Mapping

from ..errors import AdaptGraphError, FileAccessError, Problem
from .oserrors import os_failure
from .temp_names import temp_folder, umask


def check_outputs(out, inputs: Mapping[str, object], error: type[AdaptGraphError] = FileAccessError) -> None:
    """``error`` when the output folder ``out`` is, holds or sits inside any of ``inputs`` (what -> path).

    Paths are compared resolved (links followed, ``..`` removed): writing into ``a/../a`` or through a
    link to an input folder is the same as writing into it.
    """
    target = _resolved(out)
    for what, path in inputs.items():
        if path is None:
            continue
        source = _resolved(path)
        if target == source:
            relation = "is"
        elif source.is_relative_to(target):
            relation = "holds"
        elif target.is_relative_to(source) and Path(os.fspath(path)).is_dir():
            relation = "sits inside"
        else:
            continue
        raise error(f"{os.fspath(out)}: the output folder {relation} {what} {os.fspath(path)} "
                    f"(resolved: {source}), which this command reads",
                    hint="choose an --out folder apart from every input: writing there would replace "
                         "what is being read")


def make_folder(path, error: type[AdaptGraphError] = FileAccessError, doing: str = "cannot make the folder",
                hint: str = "") -> Path | None:
    """``mkdir -p path``; when a part of it is in the way (a file, a FIFO, a link that leads to no folder),
    that part is named: the OS says only "it already exists" or "not a folder", of the whole path.

    Returns the outermost folder this call made (None when ``path`` was there), for ``remove_made``."""
    path = Path(path)
    try:
        return make_parents(path, itself=True)
    except (FileExistsError, NotADirectoryError) as e:
        blocker = next((p for p in [*reversed(path.parents), path] if os.path.lexists(p) and not p.is_dir()), None)
        if blocker is None:  # pragma: no cover - changed under us
            raise os_failure(e, path, doing, error, hint) from None
        raise error(f"{path}: {doing}: {blocker} is {_not_a_folder(blocker)}",
                    hint=hint or f"move {blocker} away, or choose another path") from None
    except OSError as e:
        raise os_failure(e, path, doing, error, hint) from None


def make_parents(path: Path, itself: bool = False) -> Path | None:
    """``mkdir -p`` of ``path``'s folder (with ``itself``: of ``path``); the outermost folder it made, or None."""
    path = Path(path)
    target = path if itself else path.parent
    made = next((p for p in [*reversed(target.parents), target] if not os.path.lexists(p)), None)
    if ".." in target.parts:  # `new/../old/x`: which folders were new is not lexical, so none is removed
        made = None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        remove_made(target, made)  # the outer folders made before the disk refused an inner one
        raise
    return made


def remove_made(path: Path, made: Path | None) -> None:
    """Remove ``path`` and each folder above it up to ``made`` (what ``make_folder`` or ``make_parents``
    returned), as long as they are empty: a command that failed on a full disk leaves no empty folders it
    made along the way (``--out new/run``, ``-o new/c.safetensors``)."""
    if made is None:
        return
    path, made = Path(path), Path(made)
    for folder in [path, *path.parents]:
        if folder != made and not folder.is_relative_to(made):
            return
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass  # never made (the disk refused it): the folders above may still be ours
        except OSError:
            return  # not empty (a partial run's files, another process's): keep it and the rest
        if folder == made:
            return


def _not_a_folder(path: Path) -> str:
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}, which leads to no folder"
    return "a FIFO, not a folder" if stat.S_ISFIFO(os.stat(path).st_mode) else "a file, not a folder"


def _resolved(path) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


@contextlib.contextmanager
def staged_folder(out: Path, error: type[AdaptGraphError] = FileAccessError) -> Iterator[Path]:
    """A new empty folder beside ``out`` to write into; on success it replaces ``out`` (swap, then the
    old content is removed), on failure it is removed and ``out`` is left as it was."""
    out = Path(out)
    refuse_link_to_replace(out, error)  # before any work: the swap at the end would refuse it anyway
    made = None
    try:
        made = make_parents(out)
        stage = temp_folder(out.parent, stage_prefix(out, "new"))
    except OSError as e:
        remove_made(out.parent, made)
        raise os_failure(e, out, "cannot create the new folder beside it", error) from None
    try:
        yield stage
        _swap(stage, out, error)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        remove_made(out.parent, made)
        if isinstance(e, AdaptGraphError):  # the stage is gone: name the folder it was to become
            e.problems = tuple(_renamed(problem, stage, out) for problem in e.problems)
        raise


def stage_prefix(out: Path, role: str) -> str:
    """The name of a folder staged beside ``out`` (``role`` new: being written; old: being removed) up to its
    random part: ``.OUT.new-adaptgraph-``. A long name is cut and a hash of it added, so the prefix names one ``out``."""
    name = out.name
    if len(name) > 100:
        name = name[:80] + "-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    return f".{name}.{role}-adaptgraph-"  # so distinct that no folder of the user's is taken for an abandoned stage


def _stages(out: Path, role: str) -> list[Path]:
    """The folders staged beside ``out`` in ``role`` (``stage_prefix``) by any run, a killed one's included."""
    pattern = re.compile(re.escape(stage_prefix(out, role)) + r"[0-9a-f]{8}")
    try:
        return [Path(e.path) for e in os.scandir(out.parent) if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []  # nothing beside it that can be seen


def stranded_output(out: Path) -> Path | None:
    """Where the last output of a missing ``out`` is, when a run was killed between the swap's two renames
    (``.OUT.old-adaptgraph-XXXXXXXX/content``), else None."""
    if os.path.lexists(out):
        return None
    return next((old / "content" for old in _stages(out, "old") if (old / "content").is_dir()), None)


def remove_abandoned_stages(out: Path) -> None:
    """Remove the folders a killed run (``kill -9``, a power cut) was writing beside ``out``: an unfinished new
    output, a whole model's copy for ``merge``. Only for the holder of ``out``'s claim: no other run stages
    for ``out`` meanwhile. A folder being removed (``old``) may hold the only copy of the last output if the
    kill fell between the swap's two renames, so it is removed only once empty (its output moved back)."""
    for stage in _stages(out, "new"):
        shutil.rmtree(stage, ignore_errors=True)
    for old in _stages(out, "old"):
        _remove_empty(old)


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` made to hold what ``source`` holds, without copying data where the file system allows:
    files hard-linked (else copied), folders rebuilt the same way, links recreated as links."""
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=_link_file)
    else:
        _link_file(source, target)


def _link_file(source, target) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # a file system without hard links, or one that refuses them for this file
        shutil.copy2(source, target, follow_symlinks=False)


def _renamed(problem: Problem, stage: Path, out: Path) -> Problem:
    """``problem`` with the stage's path (``.OUT.new-1a2b3c4d``, removed) written as ``out``'s, the folder the
    user named: "OUT/adapter_model.safetensors: cannot write (the disk is full)"."""
    named = os.fspath(stage)
    if named not in problem.message and named not in problem.hint:
        return problem
    return dataclasses.replace(problem, message=problem.message.replace(named, os.fspath(out)),
                               hint=problem.hint.replace(named, os.fspath(out)))


def refuse_link_to_replace(out: Path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """``error`` when ``out``, a folder to be replaced by a staged one, is a symbolic link: the swap would
    replace the link, not the folder it names."""
    if Path(out).is_symlink():
        raise error(f"{out}: refusing to replace a symbolic link with a folder",
                    hint="name the folder itself, or choose another --out")


def refuse_unreplaceable(out: Path, error: type[AdaptGraphError] = FileAccessError) -> None:
    """``error``, before any work, when ``out`` cannot be replaced by a staged folder: a symbolic link, a name
    that is no folder's own (``.``, ``..``: the stage would sit inside it), a missing folder whose last output
    a killed swap left aside, a mount point (it cannot be renamed), or a folder with a file system mounted
    inside it (the old folder is removed after the swap, and removal must not reach into it)."""
    out = Path(out)
    refuse_link_to_replace(out, error)
    if out.name in ("", ".", ".."):
        raise error(f"{out}: give the output folder by its own name, not as the current or a parent folder",
                    hint="for example --out runs/NAME")
    stranded = stranded_output(out)
    if stranded is not None:  # a new output here would leave the last one hidden beside it for good
        raise error(f"{out} is missing, and its last output is in {stranded}: a run was stopped while it replaced "
                    "the folder", hint=f"move {stranded} back to {out}, then run again")
    if out.is_dir():
        mounted = _mount_inside(out)
        if mounted is not None:
            raise error(f"{mounted} is a mount point inside {out}, which this command replaces as a whole",
                        hint="unmount it or move it out of the folder, or choose another --out")


def _mount_inside(folder: Path, limit: int = 100_000) -> Path | None:
    """``folder`` itself when it is a mount point, else the first mount point below it (None: none found in the
    first ``limit`` entries; a tree that large is not an output folder anyway)."""
    if os.path.ismount(folder):
        return folder
    device, seen = os.lstat(folder).st_dev, 0
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            seen += 1
            path = Path(root) / name
            with contextlib.suppress(OSError):
                if os.lstat(path).st_dev != device:
                    return path
        if seen > limit:
            return None
    return None


def _swap(stage: Path, out: Path, error) -> None:
    old, moved = None, False  # the folder beside ``out`` the old one is moved into, and whether it was
    try:
        refuse_link_to_replace(out, error)  # again: a link planted while the stage was written
        if out.exists() and not out.is_dir():
            raise error(f"{out}: refusing to replace something that is not a folder", hint="choose another --out")
        # the stage is private (0700) while written; swapped in, it has the mode of the folder it replaces,
        # or a new folder's (the umask's), so that a model folder shared with others stays readable to them
        os.chmod(stage, stat.S_IMODE(os.stat(out).st_mode) if out.is_dir() else 0o777 & ~umask())
        if out.exists():
            old = temp_folder(out.parent, stage_prefix(out, "old"))
            os.rename(out, old / "content")
            moved = True
        os.rename(stage, out)
    except OSError as e:
        if moved:
            try:
                os.rename(old / "content", out)  # put the old folder back
            except OSError:  # something took its name meanwhile: the old folder stays aside, and is named
                raise error(f"{out}: cannot replace the folder ({e.strerror or e}); the old one is kept in "
                            f"{old / 'content'}", hint=f"move it back to {out}") from None
        if old is not None:
            _remove_empty(old)
        raise os_failure(e, out, "cannot replace the folder", error) from None
    if old is not None:  # only once the new folder is in place
        shutil.rmtree(old, ignore_errors=True)


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
