"""The environment around the files: cache and state folders, HOME, the current folder, the variables
adaptgraph (and the libraries it loads) read. Each case ends in one clear line or works."""
from __future__ import annotations

import os
import pwd

import pytest

from adaptgraph.graph import trace_cache as tc


@pytest.mark.parametrize("setting", [
    {tc.ENV: "~no-such-user-here/traces"},  # expanduser raised RuntimeError: an internal error
    {"HOME": None, "XDG_CACHE_HOME": None},  # and no passwd entry either: Path.home() raised
    {"HOME": "relative/home", "XDG_CACHE_HOME": None},  # would scatter caches into the current folder
    {"XDG_CACHE_HOME": "relative/cache"},  # XDG: a relative path is invalid and ignored
])
def test_an_environment_that_names_no_usable_cache_folder_runs_without_the_cache(monkeypatch, tmp_path, setting):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(tc.ENV, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    for name, value in setting.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    folder = tc.cache_dir()
    if "XDG_CACHE_HOME" in setting and setting["XDG_CACHE_HOME"]:
        assert folder is not None and folder.is_absolute()  # the relative XDG path is ignored, HOME used
    else:
        assert folder is None
    assert tc.write_entry("x.pt", {"format": tc.FORMAT}) is (folder is not None)
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder
