"""kill -9 in the middle of a trial, then --resume: nothing finished is lost or repeated, and the result is
the uninterrupted run's."""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from adaptgraph.cli import main
from adaptgraph.searcher.journal import FINISHED, STARTED, read_journal


def command(task_file, out) -> list[str]:
    return ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "--strategy", "evolve",
            "--trials", "6", "--population", "3", "-k", "2", "--fidelity-steps", "20", "--epochs", "1",
            "--batch-size", "8", "--lr", "0.01", "--score-batches", "1", "--score-head", "random",
            "--final", "best", "--out", str(out)]


def trials_of(out) -> list[dict]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    return [{k: v for k, v in t.items() if k != "seconds"} for t in summary["trials"]] + [summary["best"]["trial"]]


def kill_in_a_trial(process, journal, timeout=180.0) -> None:
    """SIGKILL once two trials have finished and another has started but not finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        records = read_journal(journal) if journal.exists() else []
        started = {r["trial"] for r in records if r["event"] == STARTED}
        finished = {r["trial"] for r in records if r["event"] == FINISHED}
        if len(finished) >= 2 and started - finished:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail("the search ended (or stalled) before it could be killed in a trial")


def kill_mid_trial_then_resume(command_of, out) -> list[dict]:
    """Run ``adaptgraph`` with ``command_of(out)`` in a subprocess, SIGKILL it in a trial, then resume it here.

    Checks what every strategy's journal owes a user: nothing finished is lost, rewritten or repeated, and the
    killed trial runs again. Returns the resumed journal's finished records."""
    process = subprocess.Popen([sys.executable, "-m", "adaptgraph", *command_of(out)],
                               env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_in_a_trial(process, out / "journal.jsonl")
    assert process.returncode == -signal.SIGKILL
    journal = read_journal(out / "journal.jsonl")
    before = [r for r in journal if r["event"] == FINISHED]
    in_flight = {r["trial"] for r in journal if r["event"] == STARTED} - {r["trial"] for r in before}
    assert not (out / "summary.json").exists() or json.loads((out / "summary.json").read_text())["status"] \
        == "running"

    assert main(command_of(out) + ["--resume"]) == 0
    after = read_journal(out / "journal.jsonl")
    finished = [r for r in after if r["event"] == FINISHED]
    assert finished[:len(before)] == before  # nothing finished was lost or rewritten
    assert Counter((r["stage"], r["trial"]) for r in finished).most_common(1)[0][1] == 1  # nor repeated
    restarted = Counter(r["trial"] for r in after if r["event"] == STARTED and r["stage"] == "search")
    assert in_flight and all(restarted[t] == 2 for t in in_flight)  # the killed trial ran again
    return finished


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(task_file, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(command(task_file, whole)) == 0
    kill_mid_trial_then_resume(lambda out: command(task_file, out), killed)
    assert trials_of(killed) == trials_of(whole)


@pytest.mark.slow
def test_ctrl_c_stops_with_a_readable_journal_and_says_how_to_resume(task_file, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "adaptgraph", *command(task_file, out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "journal.jsonl").exists() and FINISHED in (out / "journal.jsonl").read_text():
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Run the same command with --resume to continue." in err and "Traceback" not in err
    finished = [r for r in read_journal(out / "journal.jsonl") if r["event"] == FINISHED]
    assert finished and all(r["status"] == "ok" for r in finished)  # the interrupted trial is not "failed"
