"""Atomic writes: an interrupted write leaves the old file and no temporary behind."""
from __future__ import annotations

import json
import os

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
