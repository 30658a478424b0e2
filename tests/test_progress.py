"""Progress on stderr: bars on a terminal, plain lines in logs during long commands, nothing with --no-progress."""
import io

import pytest

from adaptgraph import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture()
def log(monkeypatch):
    """A clock the test moves and the lines policy of a long command; ``_log_file`` makes stderr a file
    (in the test itself: pytest sets sys.stderr again between a fixture and its test)."""
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    monkeypatch.setattr(progress, "_last_line", [float("-inf")])
    monkeypatch.setattr(progress, "_open", [])
    with progress.for_command(no_progress=False):
        yield clock


def _log_file(monkeypatch) -> io.StringIO:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    return err


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


def test_outside_a_long_command_pipes_and_files_get_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress.step("loading hf:x"):
        pass
    for _ in progress.bar(range(3), desc="train", unit="epoch"):
        pass
    assert err.getvalue() == ""


def test_no_progress_silences_a_terminal_too(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with progress.for_command(no_progress=True):
        with progress.step("loading hf:x"):
            pass
        for _ in progress.bar(range(3), desc="train", unit="epoch"):
            pass
        assert progress.mode() == "off"
    assert err.getvalue() == ""
    assert progress.mode() == "bars"  # the policy ends with the command


def test_a_log_gets_a_first_line_at_most_one_per_interval_and_a_last_line(log, monkeypatch):
    err, clock = _log_file(monkeypatch), log
    bar = progress.bar(desc="search", total=10, unit="trial")
    bar.refresh()  # the first line: the stage has started
    for k in range(10):
        clock.now += 2.0  # a trial every 2 s: a line every third trial at most
        bar.set_postfix_str(f"best validation accuracy 0.{k}000")
        bar.update(1)
    bar.close()
    lines = err.getvalue().splitlines()
    assert lines[0] == "search: 0/10 trials, 0 s elapsed"
    assert lines[1] == "search: 3/10 trials, 6 s elapsed, about 14 s left, best validation accuracy 0.2000"
    assert lines[-1] == "search: 10/10 trials, 20 s elapsed, best validation accuracy 0.9000"
    assert len(lines) == 5  # the first, at 6, 12 and 18 s, the last
    assert "\r" not in err.getvalue()


def test_transient_bars_share_the_interval_and_write_no_first_or_last_line(log, monkeypatch):
    err, clock = _log_file(monkeypatch), log
    for epoch in progress.bar(range(2), desc="train", unit="epoch"):
        for _ in progress.bar(range(4), desc=f"eval {epoch + 1}", unit="batch", leave=False):
            clock.now += 2.0
    lines = err.getvalue().splitlines()
    assert lines == ["train: 0/2 epochs, 0 s elapsed",
                     "eval 1: 3/4 batches, 6 s elapsed, about 2 s left",
                     "eval 2: 2/4 batches, 4 s elapsed, about 4 s left",
                     "train: 2/2 epochs, 16 s elapsed"]


def test_an_epoch_line_gives_the_whole_stage_clock_estimate_and_best_so_far(log, monkeypatch):
    """Regression: near an epoch's end the line said 'about 13 s left' with a whole epoch still to come."""
    err, clock = _log_file(monkeypatch), log
    epochs = progress.bar(range(2), desc="train", unit="epoch")
    for epoch in epochs:
        for _ in progress.bar(range(4), desc=f"train epoch {epoch + 1}/2", unit="batch", leave=False):
            clock.now += 2.0
        epochs.set_postfix_str("best validation accuracy 0.5000")
    lines = err.getvalue().splitlines()
    assert lines == ["train: 0/2 epochs, 0 s elapsed",
                     "train epoch 1/2: 3/4 batches, 6 s elapsed, about 10 s left",
                     "train epoch 2/2: 2/4 batches, 12 s elapsed, about 4 s left, best validation accuracy 0.5000",
                     "train: 2/2 epochs, 16 s elapsed, best validation accuracy 0.5000"]
    assert progress._open == []  # closed bars are no stage of later ones


def test_a_step_in_a_log_is_two_lines(log, monkeypatch):
    err = _log_file(monkeypatch)
    with progress.step("loading hf:x"):
        pass
    first, second = err.getvalue().splitlines()
    assert first == "loading hf:x ..." and second.startswith("loading hf:x: ") and second.endswith(" s")


@pytest.mark.parametrize("seconds, text", [(7.4, "7 s"), (185, "3m05s"), (3720, "1h02m")])
def test_durations_read_short(seconds, text):
    assert progress.duration(seconds) == text


def test_only_rank_0_of_torchrun_reports(monkeypatch):
    err = _Terminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setenv("RANK", "1")
    with progress.step("loading hf:x"):
        pass
    assert err.getvalue() == "" and progress.mode() == "off"
    monkeypatch.setenv("RANK", "0")
    assert progress.mode() == "bars"


def test_a_slow_stage_writes_its_line_every_heartbeat(log, monkeypatch):
    """Regression: a search wrote nothing for the minutes a trial took; the heartbeat writes the stage's line."""
    err, clock = _log_file(monkeypatch), log
    bar = progress.bar(desc="search", total=3, unit="trial")
    bar.refresh()
    clock.now += 60.0
    bar.set_postfix_str("best validation accuracy 0.3399")
    bar.update(1)  # the first trial took a minute
    clock.now += progress.HEARTBEAT - 1
    progress.beat()  # too soon: nothing
    clock.now += 1
    progress.beat()
    progress.beat()  # once per heartbeat, not once per call
    bar.close()
    progress.beat()  # a closed bar has no heartbeat
    assert err.getvalue().splitlines() == [
        "search: 0/3 trials, 0 s elapsed",
        "search: 1/3 trials, 1m00s elapsed, about 2m00s left, best validation accuracy 0.3399",
        "search: 1/3 trials, 1m30s elapsed, about 3m00s left, best validation accuracy 0.3399"]  # the heartbeat
    # (the close's line is the heartbeat's, so it is not written twice)


def test_the_last_line_is_not_written_twice(log, monkeypatch):
    """Regression: the last trial's update and the bar's close both wrote 'search: 3/3 trials, ...'."""
    err, clock = _log_file(monkeypatch), log
    bar = progress.bar(desc="search", total=2, unit="trial")
    bar.refresh()
    for _ in range(2):
        clock.now += 60.0
        bar.update(1)
    bar.close()
    assert err.getvalue().splitlines() == ["search: 0/2 trials, 0 s elapsed", "search: 1/2 trials, 1m00s elapsed, "
                                           "about 1m00s left", "search: 2/2 trials, 2m00s elapsed"]
