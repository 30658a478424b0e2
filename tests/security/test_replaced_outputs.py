"""Outputs swapped in whole (score, export, import, merge: ``fileio.folder_claims.replaced_folder``): what a
rerun may never do to the folder it replaces, found by a review of the deletion code."""
from __future__ import annotations

import json
import os

import pytest

from adaptgraph.errors import RunFolderError
from adaptgraph.fileio.folder_claims import LOCK_FILE, replaced_folder


def write_output(path, files, kind="score"):
    with replaced_folder(path, kind) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)


def test_a_file_system_mounted_inside_the_output_is_refused_before_anything_is_written(tmp_path, disk):
    # the old folder was removed after the swap, and its removal emptied the tmpfs mounted inside it
    out = tmp_path / "disk"  # the mount point: replacing it as a whole cannot work either
    with pytest.raises(RunFolderError, match="is a mount point inside"):
        write_output(out, {"scores.json": "1"})
    outer = tmp_path / "s"
    write_output(outer, {"scores.json": "1"})
    (disk.path / "precious.txt").write_text("mine")
    inner = outer / "data"
    inner.mkdir()
    import subprocess

    assert subprocess.run(["mount", "--bind", str(disk.path), str(inner)], capture_output=True).returncode == 0
    try:
        with pytest.raises(RunFolderError, match=rf"{inner} is a mount point inside {outer}"):
            write_output(outer, {"scores.json": "2"})
        assert (inner / "precious.txt").read_text() == "mine" and (outer / "scores.json").read_text() == "1"
    finally:
        subprocess.run(["umount", str(inner)], capture_output=True)


@pytest.mark.parametrize("name", [".", "..", "runs/.."])
def test_the_current_or_a_parent_folder_is_no_output_to_replace(tmp_path, monkeypatch, name):
    # `score --out .` computed everything, then said ". holds ., which this score does not write"
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path / "runs")
    with pytest.raises(RunFolderError, match="give the output folder by its own name"):
        write_output(name, {"scores.json": "1"})
    assert sorted(os.listdir(tmp_path / "runs")) == []


def test_a_swap_that_fails_after_moving_the_old_folder_aside_keeps_it_and_says_where(tmp_path, monkeypatch):
    # a concurrent `select -o s/best.adapt` re-made s/ between the swap's two renames: the old folder, the
    # user's files and the new output were all removed
    out = tmp_path / "s"
    write_output(out, {"scores.json": "1"})
    (out / "notes.txt").write_text("mine")
    real_rename = os.rename

    def rename(src, dst, *a, **kw):
        if os.fspath(dst) == os.fspath(out) and ".new-" in os.fspath(src):
            os.mkdir(out)
            (out / "best.adapt").write_text("select -o")
        return real_rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(RunFolderError, match="the old one is kept in") as raised:
        write_output(out, {"scores.json": "2"})
    kept = next(p for p in tmp_path.iterdir() if ".old-" in p.name) / "content"
    assert str(kept) in str(raised.value)
    assert (kept / "scores.json").read_text() == "1" and (kept / "notes.txt").read_text() == "mine"
    assert json.loads((kept / LOCK_FILE).read_text())["kind"] == "score"


@pytest.mark.parametrize("kind", ["score", "train"])
def test_a_failed_command_leaves_an_empty_folder_it_was_given_empty_and_unmarked(tmp_path, kind):
    # its lock file stayed behind, {"kind": "score"}, and `train --out emp` was then refused: "emp holds a score run"
    from adaptgraph.fileio.folder_claims import claim_folder

    empty = tmp_path / "emp"
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with claim_folder(empty, kind):
            raise KeyboardInterrupt
    assert empty.is_dir() and os.listdir(empty) == []
    with claim_folder(empty, "train" if kind == "score" else "score"):  # any kind of run may use it now
        pass


def test_a_last_output_left_aside_by_a_kill_between_the_swaps_renames_is_named_not_forgotten(tmp_path):
    # a fresh s/ was made and the last output stayed hidden in .s.old-*/content for good
    out = tmp_path / "s"
    write_output(out, {"scores.json": "1"})
    aside = tmp_path / ".s.old-adaptgraph-0a1b2c3d"
    aside.mkdir()
    os.rename(out, aside / "content")
    with pytest.raises(RunFolderError, match=rf"{out} is missing, and its last output is in {aside / 'content'}"):
        write_output(out, {"scores.json": "2"})
    assert not out.exists() and (aside / "content" / "scores.json").read_text() == "1"
    os.rename(aside / "content", out)
    write_output(out, {"scores.json": "2"})
    assert (out / "scores.json").read_text() == "2" and not aside.exists()  # emptied, so tidied
