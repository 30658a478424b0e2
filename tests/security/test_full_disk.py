"""A real full disk: commands write onto a small tmpfs with only a few bytes free.

Earlier checks raised ENOSPC from a monkeypatched call; these mount a tmpfs (root only: skipped where
mounting is not allowed) and fill it, so the kernel refuses the write at whatever point it reaches:
the lock file, the first file, the weights. Each ends in one line naming the path and "the disk is
full", exit 1, nothing half-written, an --out folder the command made removed again, and every file
that was there before unchanged. Each mount is unmounted in the fixture's teardown.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"
SPEC = 'backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n'


class Disk:
    """A mounted tmpfs; ``fill(free)`` leaves ``free`` bytes of it to write."""

    def __init__(self, path: Path):
        self.path = path

    def fill(self, free: int = 0) -> None:
        filler = self.path / "filler"
        filler.unlink(missing_ok=True)
        st = os.statvfs(self.path)
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - free))

    def free_up(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def files(self) -> dict[str, str]:
        """Every path below the mount (the filler left out) -> its content's hash, or "folder"."""
        return {str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
                for p in sorted(self.path.rglob("*")) if p.name != "filler"}


@pytest.fixture()
def disk(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path/disk``; skipped where this process may not mount one."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    point = tmp_path / "disk"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield Disk(point)
    finally:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "s.adapt"
    path.write_text(SPEC)
    return path


def run(argv, capsys) -> tuple[int, str]:
    from adaptgraph.cli import main
    from adaptgraph.fileio.reading import _READ

    _READ.clear()
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_full_disk_error(code: int, err: str, path) -> None:
    """Exit 1 and one ``error:`` line naming ``path`` and the full disk (plus at most a hint line)."""
    lines = err.strip().splitlines()
    assert code == 1, err
    assert lines[0].startswith(f"error: {path}") and "(the disk is full)" in lines[0], err
    assert len(lines) <= 2 and all(line.strip().startswith("hint:") for line in lines[1:]), err
    assert "Traceback" not in err and "internal error" not in err


def no_temporary_names(disk: Disk) -> None:
    left = [name for name in disk.files() if Path(name).name.startswith(".")
            and (Path(name).name.endswith(".tmp") or ".new-" in name or ".old-" in name)]
    assert left == []


# -- a new --out folder on a disk with no byte free: the lock file's record is the first write --------
@pytest.mark.parametrize("command", ["train", "score"])
def test_a_new_out_folder_on_a_full_disk_is_removed_again(disk, spec, capsys, command):
    # the claim made DIR and its lock file, the disk refused the lock's record, and DIR stayed behind
    # holding only an empty .adaptgraph.lock (train, score, export, import and merge alike)
    out = disk.path / "run"
    disk.fill(0)
    argv = {"train": ["train", spec, "--task", TASK, "--epochs", "1"],
            "score": ["score", "zoo:bert-tiny", "--task", TASK, "--batches", "1"]}[command]
    code, err = run([*argv, "--no-progress", "--out", out], capsys)
    assert_full_disk_error(code, err, out / ".adaptgraph.lock")
    assert not out.exists()
    assert disk.files() == {}
