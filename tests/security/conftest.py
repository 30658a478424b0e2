"""Fixtures shared by the security tests: a real, small file system of their own (tmpfs)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest


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
