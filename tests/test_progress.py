"""Progress lines go to stderr only when it is a terminal."""
import io

import pytest

from adaptgraph import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_the_step_and_its_seconds(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with progress.step("tracing zoo:vit-tiny (fx)"):
        pass
    assert err.getvalue().startswith("tracing zoo:vit-tiny (fx) ... ") and err.getvalue().endswith(" s\n")


def test_a_failed_step_says_so(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with pytest.raises(KeyError):
        with progress.step("loading hf:x"):
            raise KeyError("x")
    assert err.getvalue() == "loading hf:x ... failed\n"


def test_pipes_and_files_get_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress.step("loading hf:x"):
        pass
    assert err.getvalue() == ""
