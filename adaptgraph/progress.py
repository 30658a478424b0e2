"""Progress of slow work on stderr: bars on a terminal, plain lines in logs, or nothing.

Every progress display in adaptgraph comes from here:

* ``bar(iterable, desc=..., total=..., unit=...)`` is a tqdm bar on a terminal. When stderr
  is a file or a pipe (a log, nohup, CI) and a long command asked for it
  (``for_command``), it writes plain lines instead, as training libraries do:
  ``train: 1/3 epochs, 41 s elapsed, about 1m22s left, best validation accuracy 0.4123``,
  at most one every ``INTERVAL`` seconds across all bars, plus a first and a last line
  for each bar that stays (``leave=True``).
* ``step("loading hf:minilm")`` says that one slow step runs, then how long it took.

``progress=False`` (``--no-progress``) silences both everywhere; ``True`` forces bars.
Without ``for_command`` (the Python API, short commands) logs get nothing, so captured
output and ``--json`` stay clean.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Iterable, Iterator, Optional

INTERVAL = 5.0  # seconds between two plain lines (first and last lines of a bar are always written)
HEARTBEAT = 30.0  # a stage whose steps are slow (a search trial) still writes its line this often

_policy = {"off": False, "lines": False}  # set for the duration of a long command by for_command
_last_line = [float("-inf")]  # when the last plain line was written, for every bar together
_open: list = []  # the LogLines not closed yet, outermost first: a stage's bar, then its steps' bars


def on_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


@contextlib.contextmanager
def for_command(no_progress: bool) -> Iterator[None]:
    """While a long command runs: plain lines in logs, or (``--no-progress``) nothing anywhere."""
    saved, depth = dict(_policy), len(_open)
    _policy.update(off=no_progress, lines=not no_progress)
    try:
        yield
    finally:
        _policy.update(saved)
        del _open[depth:]  # a bar an error left open is no stage of a later command


def mode(progress: Optional[bool] = None) -> str:
    """``"bars"``, ``"lines"`` or ``"off"`` for a caller's ``progress`` setting (None: the default)."""
    if progress is False or (progress is None and (_policy["off"] or os.environ.get("RANK", "0") != "0")):
        return "off"  # silenced, or a torchrun worker other than rank 0 (which reports for all)
    if progress is True or on_terminal():
        return "bars"
    return "lines" if _policy["lines"] else "off"


def bar(iterable: Optional[Iterable] = None, *, desc: str, total: Optional[int] = None, unit: str = "it",
        progress: Optional[bool] = None, leave: bool = True):
    """A progress bar with tqdm's interface (``update``, ``set_postfix_str``, ``set_description``, ``close``)."""
    from tqdm.auto import tqdm

    shown = mode(progress)
    if shown == "lines":
        return LogLines(iterable, desc=desc, total=total, unit=unit, leave=leave)
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=shown == "off",
                dynamic_ncols=True)


class LogLines:
    """What a bar writes into a log: one plain line now and then, never carriage returns."""

    def __init__(self, iterable=None, *, desc: str, total: Optional[int], unit: str, leave: bool):
        self.iterable, self.desc, self.unit, self.leave = iterable, desc, unit, leave
        self.total = total if total is not None else _length(iterable)
        self.n, self.postfix, self.started, self.written, self.closed = 0, "", time.monotonic(), False, False
        self.last = ""  # the last line this bar wrote
        self.stage = _stage_of(desc)  # the open bar this one is a part of ("train epoch 2/3" of "train")
        _open.append(self)
        _start_heartbeat()

    def __iter__(self):
        self.refresh()
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LogLines":
        self.refresh()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.leave and not self.written:
            self._write()
        elif time.monotonic() - _last_line[0] >= INTERVAL:
            self._write()

    def refresh(self) -> None:
        """The first line of a bar that stays, once its total is known; later calls wait for update."""
        if self.leave and not self.written:
            self._write()

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self.closed and self.leave and self.line() != self.last:  # not the line just written again
            self._write()
        self.closed = True
        if self in _open:
            _open.remove(self)

    def line(self) -> str:
        """A part of a stage (an epoch of ``train``) gives the stage's elapsed time, what is left of the
        whole stage (not of this part) and the stage's best so far: a log reader sees one clock."""
        outer = self.stage if self.stage is not None and self.stage.total and self.total else None
        clock = outer or self
        elapsed = time.monotonic() - clock.started
        done = (outer.n + self.n / self.total) if outer else self.n
        parts = [f"{self.desc}: {self.n}/{self.total if self.total else '?'} {_plural(self.unit)}",
                 f"{duration(elapsed)} elapsed"]
        if clock.total and 0 < done < clock.total:
            parts.append(f"about {duration(elapsed * (clock.total - done) / done)} left")
        for postfix in (self.postfix, outer.postfix if outer else ""):
            if postfix:
                parts.append(postfix)
        return ", ".join(parts)

    def _write(self) -> None:
        with _writing:
            self.last = self.line()
            sys.stderr.write(self.last + "\n")
            sys.stderr.flush()
            self.written = True
            _last_line[0] = time.monotonic()


_writing = threading.Lock()  # the heartbeat's line and a bar's never interleave
_heartbeat: list = []  # the heartbeat thread, once started


def beat() -> None:
    """One heartbeat: the innermost open bar's line, if no line was written for ``HEARTBEAT`` seconds
    (a search trial or a final retraining takes minutes; a log silent that long looks hung)."""
    bars = [b for b in _open if not b.closed]
    if bars and _policy["lines"] and time.monotonic() - max(_last_line[0], bars[-1].started) >= HEARTBEAT:
        bars[-1]._write()


def _start_heartbeat() -> None:
    if _heartbeat:
        return

    def run() -> None:
        while True:
            time.sleep(1.0)
            try:
                beat()
            except Exception:  # a closed stderr at exit: the heartbeat only stops
                return

    _heartbeat.append(threading.Thread(target=run, name="adaptgraph-progress-heartbeat", daemon=True))
    _heartbeat[0].start()


def _stage_of(desc: str) -> Optional["LogLines"]:
    """The innermost open bar whose description starts this one's (``train`` for ``train epoch 2/3``)."""
    for bar in reversed(_open):
        if not bar.closed and desc.startswith(bar.desc + " "):
            return bar
    return None


def _length(iterable) -> Optional[int]:
    try:
        return len(iterable)
    except TypeError:
        return None


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("tch", "sh", "s", "x")) else "s")


def duration(seconds: float) -> str:
    """``7 s``, ``3m05s``, ``1h02m``: short enough for a log line."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@contextlib.contextmanager
def step(what: str, progress: Optional[bool] = None) -> Iterator[None]:
    """Say ``what`` is happening, then how long it took (or that it failed)."""
    shown = mode(progress)
    if shown == "off":
        yield
        return
    end = "\n" if shown == "lines" else ""
    sys.stderr.write(f"{what} ...{end}")
    sys.stderr.flush()
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        sys.stderr.write(f"{what}: failed\n" if end else " failed\n")
        raise
    seconds = time.perf_counter() - started
    sys.stderr.write(f"{what}: {seconds:.1f} s\n" if end else f" {seconds:.1f} s\n")
    sys.stderr.flush()
    if end:
        _last_line[0] = time.monotonic()
