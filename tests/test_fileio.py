"""Atomic writes: an interrupted write leaves the old file and no temporary behind."""
from __future__ import annotations

import json
import os
import stat

import pytest

from adaptgraph.fileio import write_bytes_atomic, write_text_atomic
from adaptgraph.train.files import write_json, write_jsonl


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, '{"half": ')
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # the temporary file is gone


def test_writes_replace_and_create_folders(tmp_path):
    target = tmp_path / "deep" / "log.jsonl"
    write_jsonl(target, [{"epoch": 1}, {"epoch": 2}])
    write_bytes_atomic(tmp_path / "deep" / "x.bin", b"\x00\x01")
    assert target.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    assert (tmp_path / "deep" / "x.bin").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("where", ["a_file/out.json", "a_folder"])
def test_a_path_that_cannot_be_written_is_a_user_error(tmp_path, where):
    """Regression: `plot --out /proc/x.png` (or a file where a folder should be) was an internal error, exit 3."""
    from adaptgraph.errors import FileAccessError

    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(FileAccessError) as raised:
        write_text_atomic(tmp_path / where, "{}")
    text = raised.value.format()  # the path, why (in words, not an errno), and what to do
    assert f"{tmp_path / where}: cannot write" in text and ("not a folder" in text or "it is a folder" in text)
    assert "hint: " in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "a_folder"]  # nothing left behind
    assert list((tmp_path / "a_folder").iterdir()) == []


def test_the_cli_says_so_with_exit_1(tmp_path, capsys):
    from adaptgraph.cli import main

    (tmp_path / "a_file").write_text("x")
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:vit-tiny"\nedge @1 -> @2\n')
    assert main(["convert", str(spec), "--to", "yaml", "-o", str(tmp_path / "a_file" / "s.adapt.yaml")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path, capsys):
    """Regression: every atomic write made a 0600 file (mkstemp's mode), so `fmt --write` on a shared
    0644 spec took it away from everyone else, and a run folder's files were readable by no one else."""
    from adaptgraph.cli import main

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone   "zoo:vit-tiny"\nedge @1->@2\n')
    spec.chmod(0o654)
    assert main(["fmt", "--write", str(spec)]) == 0
    assert 'edge @1 -> @2' in spec.read_text() and oct(spec.stat().st_mode & 0o777) == "0o654"
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert oct((tmp_path / "new.json").stat().st_mode & 0o777) == "0o640"
    tool = tmp_path / "tool.json"
    tool.write_text("{}")
    tool.chmod(0o6755)  # setuid and setgid: new contents must not run with the owner's rights
    write_text_atomic(tool, "[]")
    assert oct(stat.S_IMODE(tool.stat().st_mode)) == "0o755"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_a_file_root_rewrites_keeps_its_owner_and_group(tmp_path):
    """Regression: `sudo adaptgraph fmt --write` handed the user's spec to root (the rename keeps the new file's owner)."""
    spec = tmp_path / "s.adapt"
    spec.write_text("{}")
    os.chown(spec, 12345, 23456)
    write_text_atomic(spec, "[]")
    assert (spec.stat().st_uid, spec.stat().st_gid) == (12345, 23456) and spec.read_text() == "[]"


def test_a_write_protected_file_is_not_replaced(tmp_path, capsys):
    """Regression: the rename of an atomic write needs only the folder's permission, so `fmt --write`
    (or `select -o`) replaced a file made read-only with `chmod a-w`."""
    from adaptgraph.cli import main
    from adaptgraph.errors import FileAccessError

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone   "zoo:vit-tiny"\nedge @1->@2\n')
    spec.chmod(0o444)
    assert main(["fmt", "--write", str(spec)]) == 1
    assert f"{spec}: cannot write (the file is read-only)" in capsys.readouterr().err
    assert spec.read_text() == 'backbone   "zoo:vit-tiny"\nedge @1->@2\n' and oct(spec.stat().st_mode & 0o777) == "0o444"
    with pytest.raises(FileAccessError, match="read-only"):
        write_text_atomic(spec, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.adapt"]  # no temporary left behind


def test_text_reads_take_every_line_ending_as_lf(tmp_path):
    from adaptgraph.fileio import read_text

    text = "one\n\ntwo\nthree\n"
    for ending in (b"\n", b"\r\n", b"\r"):
        path = tmp_path / f"t{len(ending)}{ending[-1]}.txt"
        path.write_bytes(text.encode().replace(b"\n", ending))
        assert read_text(path, "text") == text
