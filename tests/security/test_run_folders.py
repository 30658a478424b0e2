"""Run folders: a user's files are never written over, one process at a time holds a folder,
and a holder killed with ``kill -9`` leaves nothing that blocks the next run."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import adaptgraph
from adaptgraph.cli import main
from adaptgraph.errors import RunFolderError, SearchError
from adaptgraph.fileio.folder_claims import LOCK_FILE, claim_folder
from adaptgraph.compiler.adapter_files import save_adapters
from adaptgraph.searcher.journal import FINISHED, Journal
from adaptgraph.train.files import prepare_run_dir

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"
MANIFEST = {"task": "csv:a.csv", "backbone": "zoo:bert-tiny", "strategy": "gga", "seed": 0}

# Holds a folder the way train (kind "train") or search (kind "search", through its journal) does,
# says so on stdout, and keeps it until killed.
HOLDER = """
import sys
from adaptgraph.fileio.folder_claims import claim_folder
from adaptgraph.searcher.journal import Journal
path, kind = sys.argv[1], sys.argv[2]
held = Journal.open(path, {manifest!r}) if kind == "search" else claim_folder(path, kind)
print("held", flush=True)
sys.stdin.read()
""".format(manifest=MANIFEST)


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "s.adapt"
    path.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')
    return path


def train(spec, out, *extra) -> int:
    return main(["train", str(spec), "--task", TASK, "--epochs", "1", "--out", str(out), "--no-progress", *extra])


def hold(path: Path, kind: str) -> subprocess.Popen:
    """Another process that holds ``path``; returns once it does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), kind], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def kill_9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_train_never_writes_into_a_folder_of_user_files(spec, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "spec.adapt").write_text("# my notes on this spec\nbackbone \"zoo:bert-tiny\"\n")
    (out / "log.jsonl").write_text('{"my": "log"}\n')
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):
        assert train(spec, out, *extra) == 1
        assert capsys.readouterr().err == (
            f"error: {out} is not empty and was not made by adaptgraph (it holds log.jsonl, spec.adapt); "
            "its files are not written over\n"
            "    hint: choose a new or empty --out folder; adaptgraph writes only into folders it made itself\n")
        assert snapshot(out) == before  # not even a lock file is added


def test_search_never_writes_into_a_folder_of_user_files(tmp_path):
    (tmp_path / "pareto.csv").write_text("my,own,table\n")
    with pytest.raises(RunFolderError, match=r"is not empty and was not made by adaptgraph \(it holds pareto.csv\)"):
        Journal.open(tmp_path, MANIFEST)
    assert snapshot(tmp_path) == {"pareto.csv": b"my,own,table\n"}


def test_a_train_folder_and_a_search_folder_do_not_mix(tmp_path):
    Journal.open(tmp_path / "s", MANIFEST).close()
    with pytest.raises(RunFolderError) as e:
        prepare_run_dir(tmp_path / "s")
    assert str(e.value) == (f"error: {tmp_path / 's'} holds a search run, so a train run cannot write there\n"
                            "    hint: choose another --out folder for the train run")
    prepare_run_dir(tmp_path / "t").release()
    with pytest.raises(RunFolderError, match="holds a train run, so a search run cannot write there"):
        Journal.open(tmp_path / "t", MANIFEST)


def test_out_that_is_a_file_is_a_clean_error(spec, tmp_path, capsys):
    assert train(spec, spec) == 1
    assert capsys.readouterr().err.startswith(f"error: {spec} exists and is not a folder\n")


@pytest.mark.parametrize("target", ["nowhere", "loop"])
def test_out_that_is_a_link_to_nothing_says_so(tmp_path, target):
    """Regression: a dangling link or a loop of links as --out read "cannot create ... (it already exists)"."""
    out = tmp_path / "out"
    out.symlink_to(tmp_path / ("out" if target == "loop" else "nowhere"))
    with pytest.raises(RunFolderError, match="out is a symbolic link to nothing"):
        claim_folder(out, "train")
    assert out.is_symlink() and not (tmp_path / "nowhere").exists()


def test_a_second_train_is_refused_naming_the_holder_and_kill_9_frees_the_folder(spec, tmp_path, capsys):
    out = tmp_path / "run"
    holder = hold(out, "train")
    try:
        assert train(spec, out) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out} is in use by another adaptgraph train (pid {holder.pid} on "
                              f"{socket.gethostname()}, started ")
        assert "hint: wait for that run to finish (or stop it), or choose another --out folder" in err
    finally:
        kill_9(holder)
    assert (out / LOCK_FILE).exists()  # the file stays; its lock went with the process
    assert train(spec, out) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LOCK_FILE, "adapters.safetensors", "log.jsonl", "metrics.json", "spec.adapt"])
    assert json.loads((out / LOCK_FILE).read_text()) == {"kind": "train"}  # finished: only its kind is left


def test_search_and_resume_are_refused_while_a_search_runs(tmp_path, capsys):
    out, data = tmp_path / "run", tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"{w} {i},{w}\n" for w in ("cat", "bread", "saw") for i in range(20)))
    holder = hold(out, "search")
    try:
        for resume in (False, True):
            with pytest.raises(RunFolderError, match=rf"is in use by another adaptgraph search \(pid {holder.pid} "):
                Journal.open(out, MANIFEST, resume=resume)
        assert main(["search", "--task", f"csv:{data}", "--backbone", "zoo:bert-tiny", "-k", "1", "--out", str(out),
                     "--resume"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out} is in use by another adaptgraph search (pid {holder.pid} ")
    finally:
        kill_9(holder)
    Journal.open(out, MANIFEST, resume=True).close()  # the killed search is resumable at once


def test_two_processes_racing_for_one_new_folder_one_wins(tmp_path):
    out, go = tmp_path / "run", tmp_path / "go"
    racer = ("import os, sys, time\nfrom adaptgraph.errors import RunFolderError\n"
             "from adaptgraph.fileio.folder_claims import claim_folder\nprint('ready', flush=True)\n"
             f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
             f"try:\n    c = claim_folder({str(out)!r}, 'train')\n    print('won', flush=True)\n"
             "except RunFolderError as e:\n    print('lost', e.problems[0].message, flush=True)\n"
             "sys.stdin.read()\n")  # the winner keeps the folder until the test has both answers
    procs = [subprocess.Popen([sys.executable, "-c", racer], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
    go.touch()
    results = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.communicate(timeout=30)
    # the loser may try before the winner has written its details: "another adaptgraph process (...)"
    assert results[1] == "won" and results[0].startswith(f"lost {out} is in use by another adaptgraph ")


def test_a_different_search_is_refused_and_the_folder_stays_resumable(tmp_path):
    journal = Journal.open(tmp_path, MANIFEST)
    journal.append(FINISHED, {"trial": 0, "stage": "search", "status": "ok"})
    journal.close()
    with pytest.raises(SearchError) as e:
        Journal.open(tmp_path, {**MANIFEST, "strategy": "evolve"})
    assert str(e.value) == (f"error: {tmp_path} already holds a different search:\n"
                            '  strategy: "gga" in the run folder, "evolve" now\n'
                            "    hint: choose another --out folder (this one stays resumable with its own settings)")
    again = Journal.open(tmp_path, MANIFEST, resume=True)
    assert again.finished("search", 0)["status"] == "ok"
    again.close()


def test_a_held_claim_is_released_by_release_and_with(tmp_path):
    with claim_folder(tmp_path, "train"):
        with pytest.raises(RunFolderError, match="is in use"):
            claim_folder(tmp_path, "train")  # a second open file in the same process is refused too
    claim_folder(tmp_path, "train").release()


def test_peft_export_never_writes_into_a_folder_of_user_files(tmp_path, capsys):
    """export, import and merge claim their --out folder as train and search do."""
    spec = 'backbone "zoo:bert-tiny"\nparallel encoder.layer.0.attention.self.query { bias = false }'
    model = adaptgraph.compile(adaptgraph.loads(spec))
    save_adapters(model, tmp_path / "a.safetensors")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "adapter_config.json").write_text('{"my": "config"}')
    assert main(["export", str(tmp_path / "a.safetensors"), "--format", "peft", "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {out} is not empty and was not made by adaptgraph "
                                              "(it holds adapter_config.json)")
    assert snapshot(out) == {"adapter_config.json": b'{"my": "config"}'}
    assert main(["export", str(tmp_path / "a.safetensors"), "--format", "peft", "--out", str(tmp_path / "new")]) == 0


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_lock_file_that_is_a_link_is_never_written_through(tmp_path, link):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "run"
    out.mkdir()
    (os.symlink if link == "symlink" else os.link)(victim, out / LOCK_FILE)
    with pytest.raises(RunFolderError):
        claim_folder(out, "train")
    assert victim.read_text() == "precious\n"


def test_score_never_writes_into_a_folder_of_user_files(tmp_path, capsys):
    """score --out claims its folder too: it wrote scores.json and heatmap.png over anything there."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "scores.json").write_text('{"my": "scores"}')
    args = ["score", "zoo:bert-tiny", "--task", TASK, "--batches", "1", "--batch-size", "2", "--max-length", "8",
            "--head", "random", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {out} is not empty and was not made by adaptgraph "
                                              "(it holds scores.json)")
    assert snapshot(out) == {"scores.json": b'{"my": "scores"}'}
    prepare_run_dir(tmp_path / "run").release()
    assert main([*args, "--out", str(tmp_path / "run")]) == 1
    assert "holds a train run, so a score run cannot write there" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "new")]) == 0
    assert main([*args, "--out", str(tmp_path / "new")]) == 0  # its own folder again: scored anew
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [LOCK_FILE, "heatmap.png", "scores.json"]


def test_a_finished_folder_keeps_only_its_kind_in_the_lock_file(tmp_path):
    # the holder's host, pid and command are for a second run's message while it runs; a merged or
    # exported model folder is shared, and must not carry them afterwards
    claim = claim_folder(tmp_path / "out", "merge")
    held = json.loads((tmp_path / "out" / LOCK_FILE).read_text())
    assert held["pid"] == os.getpid() and held["host"] == socket.gethostname() and "command" in held
    claim.release()
    assert json.loads((tmp_path / "out" / LOCK_FILE).read_text()) == {"kind": "merge"}
    claim_folder(tmp_path / "out", "merge").release()  # still known as a merge folder: it may be reused


@pytest.mark.parametrize("existed, wrote, kept", [
    (False, False, False),  # made by the failed command and left empty: removed
    (False, True, True),  # a partial run's files (a log) are kept
    (True, False, True),  # the user's own empty folder stays, empty
])
def test_a_command_that_fails_removes_only_the_empty_folder_its_claim_made(tmp_path, existed, wrote, kept):
    out = tmp_path / "r"
    if existed:
        out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        with claim_folder(out, "score"):
            if wrote:
                (out / "log.jsonl").write_text("{}\n")
            raise KeyboardInterrupt
    assert out.is_dir() == kept
    if kept:  # the user's own empty folder is left empty: not even the lock file stays
        assert sorted(p.name for p in out.iterdir()) == ([LOCK_FILE, "log.jsonl"] if wrote else [])


def test_a_train_run_that_fails_after_claiming_a_new_out_folder_leaves_none(tmp_path, monkeypatch, capsys):
    import adaptgraph.train.loop as loop

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')

    def stop(*args, **kwargs):
        raise RunFolderError("stopped after the claim, before anything was written")

    monkeypatch.setattr(loop, "_init_from_gradients", stop)
    out = tmp_path / "r"
    assert main(["train", str(spec), "--task", TASK, "--epochs", "1", "--out", str(out), "--no-progress"]) == 1
    assert "stopped after the claim" in capsys.readouterr().err
    assert not out.exists()
    with claim_folder(out, "train"):  # a success keeps the folder it made
        pass
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]


def _write_output(path, kind, files):
    from adaptgraph.fileio.folder_claims import replaced_folder

    with replaced_folder(path, kind) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)


def test_a_replaced_output_keeps_the_users_files_and_drops_its_own_stale_ones(tmp_path):
    # `score --out s` twice with `select -o s/best.adapt` between: the rerun deleted best.adapt and notes.txt
    out = tmp_path / "s"
    _write_output(out, "score", {"scores.json": "1", "heatmap.png": "old", "extra.bin": "stale"})
    (out / "best.adapt").write_text("mine")
    (out / "cards").mkdir()
    (out / "cards" / "README.md").write_text("card")
    _write_output(out, "score", {"scores.json": "2", "heatmap.png": "new"})
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "best.adapt", "cards", "heatmap.png", "scores.json"]
    assert (out / "scores.json").read_text() == "2" and (out / "best.adapt").read_text() == "mine"
    assert (out / "cards" / "README.md").read_text() == "card"  # extra.bin, the last output's, is gone
    assert json.loads((out / LOCK_FILE).read_text()) == {"kind": "score", "outputs": ["heatmap.png", "scores.json"]}


@pytest.mark.parametrize("record", [{"kind": "score"}, {"kind": "score", "outputs": ["../../etc/passwd"]}])
def test_a_folder_that_does_not_list_its_outputs_is_not_replaced_over_files_it_may_not_own(tmp_path, record):
    out = tmp_path / "s"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps(record))
    (out / "scores.json").write_text("1")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match=r"holds notes\.txt, which this score does not write"):
        _write_output(out, "score", {"scores.json": "2"})
    assert (out / "scores.json").read_text() == "1" and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no stage left beside it
    (out / "notes.txt").unlink()
    _write_output(out, "score", {"scores.json": "2"})  # nothing of unknown origin left: replaced
    assert (out / "scores.json").read_text() == "2"


def test_a_failed_claim_of_a_replaced_output_keeps_its_list_of_outputs(tmp_path):
    out = tmp_path / "s"
    _write_output(out, "score", {"scores.json": "1"})
    with pytest.raises(KeyboardInterrupt):
        with claim_folder(out, "score", replaced=True):
            raise KeyboardInterrupt
    assert json.loads((out / LOCK_FILE).read_text()) == {"kind": "score", "outputs": ["scores.json"]}


def test_the_next_run_removes_what_a_killed_run_was_staging_beside_its_output_and_nothing_else(tmp_path):
    # kill -9 during merge's save left .m.new-XXXXXXXX (a whole model's copy) beside m/, never removed
    out = tmp_path / "s"
    _write_output(out, "score", {"scores.json": "1"})
    abandoned = tmp_path / ".s.new-adaptgraph-0a1b2c3d"
    abandoned.mkdir()
    (abandoned / "model.safetensors").write_text("half")
    kept = [tmp_path / ".s.old-adaptgraph-0a1b2c3d",  # may hold the only copy of the last output: left alone
            tmp_path / ".s.new-adaptgraph-0a1b2c3d.new-adaptgraph-12345678",  # another output's stage
            tmp_path / ".s2.new-adaptgraph-0a1b2c3d", tmp_path / ".s.new-0a1b2c3d",  # a user's, by its name
            tmp_path / ".s.new-adaptgraph-20261207x"]
    for folder in kept:
        folder.mkdir()
    (kept[0] / "content").mkdir()  # an old output set aside: kept; an empty one is tidied
    _write_output(out, "score", {"scores.json": "2"})
    assert not abandoned.exists() and all(folder.is_dir() for folder in kept)
    assert (out / "scores.json").read_text() == "2"


def test_stage_names_of_long_outputs_stay_apart():
    from adaptgraph.fileio.folders import stage_prefix

    assert stage_prefix(Path("runs/m"), "new") == ".m.new-adaptgraph-"
    a, b = Path("x" * 120 + "a"), Path("x" * 120 + "b")
    assert stage_prefix(a, "new") != stage_prefix(b, "new") and len(stage_prefix(a, "new")) < 120  # + 8 random: < 255


def test_a_claim_removes_the_temporary_files_a_killed_run_left_and_nothing_else(tmp_path):
    # kill -9 mid-write left .log.jsonl.XXXXXXXX.tmp in the run folder for good
    out = tmp_path / "r"
    with claim_folder(out, "train"):
        (out / "log.jsonl").write_text("{}\n")
    abandoned = [out / ".log.jsonl.adaptgraph-0a1b2c3d.tmp", out / ".adapters.safetensors.adaptgraph-00ff00ff.tmp"]
    kept = [out / "notes.tmp", out / ".x.tmp", out / ".log.jsonl.adaptgraph-0a1b2c3d.tmp.bak",
            out / ".notes.20261207.tmp", out / ".draft.abcdefgh.tmp"]  # a user's own names, as the review found
    for path in abandoned + kept:
        path.write_text("x")
    with claim_folder(out, "train"):
        pass
    assert not any(path.exists() for path in abandoned) and all(path.exists() for path in kept)
    assert (out / "log.jsonl").read_text() == "{}\n"


def test_an_overwrite_that_fails_or_is_killed_gives_the_finished_run_back(tmp_path, monkeypatch, capsys):
    # an interrupted `train --out tr --overwrite` deleted the finished run's metrics.json and log.jsonl,
    # leaving its adapters without metrics and no new run (found by a review)
    import hashlib

    import adaptgraph.train.loop as loop
    from adaptgraph.train.files import PREVIOUS_RUN

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')
    out = tmp_path / "tr"
    argv = ["train", str(spec), "--task", TASK, "--epochs", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    files = lambda: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()  # noqa: E731
                     if p.is_file() and p.name != LOCK_FILE}
    finished = files()
    assert {"metrics.json", "log.jsonl", "adapters.safetensors", "spec.adapt"} <= set(finished)

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_init_from_gradients", stop)
    assert main(argv + ["--overwrite"]) == 130
    assert files() == finished and not (out / PREVIOUS_RUN).exists()
    monkeypatch.undo()

    claim = prepare_run_dir(out, overwrite=True)  # a run killed while it overwrote: nothing gives them back...
    os.close(claim._fd)
    claim._fd = None
    assert not (out / "metrics.json").exists() and (out / PREVIOUS_RUN).is_dir()
    capsys.readouterr()
    assert main(argv) == 1  # ...until the next claim of the folder does, before anything else: finished again
    assert "already holds a finished run" in capsys.readouterr().err
    assert files() == finished and not (out / PREVIOUS_RUN).exists()

    assert main(argv + ["--overwrite"]) == 0  # a finished overwrite keeps nothing of the run it replaced
    assert not (out / PREVIOUS_RUN).exists() and set(files()) == set(finished)
