"""The environment around the files: cache and state folders, HOME, the current folder, the variables
adaptgraph (and the libraries it loads) read. Each case ends in one clear line or works."""
from __future__ import annotations

import os
from pathlib import Path
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


TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "s.adapt"
    path.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')
    return path


@pytest.mark.parametrize("variables, code, message", [
    ({"RANK": "abc"}, 2, "error: RANK='abc' is not a whole number"),  # was int('abc'): an internal error
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"}, 2, "error: LOCAL_RANK='-1' is not a whole number"),
    # a stale RANK=1 in a lone shell: it trained, believed it was not rank 0 and left spec.adapt unwritten
    ({"RANK": "1"}, 2, "error: RANK=1, WORLD_SIZE=(unset), LOCAL_RANK=(unset) do not describe a process group"),
    ({"RANK": "5", "WORLD_SIZE": "2"}, 2, "error: RANK=5, WORLD_SIZE=2"),
    # torchrun's variables without its rendezvous: torch's ValueError was an internal error
    ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": None}, 1, "error: cannot join the torchrun process group: "),
])
def test_torchrun_variables_that_describe_no_group_are_one_line(spec, tmp_path, monkeypatch, capsys, variables,
                                                                code, message):
    from adaptgraph.cli import main

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    assert main(["train", str(spec), "--task", TASK, "--epochs", "1", "--out", str(out), "--no-progress"]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and "internal error" not in err
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("variable, argv, package", [
    ("MPLBACKEND=bogus", ["plot", "{spec}", "--out", "{tmp}/p.png"], "matplotlib"),
    ("HF_HUB_ETAG_TIMEOUT=abc", ["points", "hf:minilm"], "huggingface_hub"),
])
def test_a_library_that_cannot_import_in_this_environment_is_one_line(spec, tmp_path, variable, argv, package):
    # both raised ValueError while adaptgraph imported them lazily: "internal error ... a bug in adaptgraph"
    name, value = variable.split("=")
    pytest.importorskip("matplotlib" if package == "matplotlib" else "transformers")
    done = run_cli([a.format(spec=spec, tmp=tmp_path) for a in argv], {name: value})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: the {package} package does not import: ValueError: ")
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def run_cli(argv, env=None, cwd=None, **kw):
    """``python -m adaptgraph ARGV`` in a fresh process, with ``env`` added to this environment."""
    import subprocess
    import sys

    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    return subprocess.run([sys.executable, "-m", "adaptgraph", *argv], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=120, **kw)


def test_a_deleted_current_folder_is_one_line(spec, tmp_path, monkeypatch, capsys):
    from adaptgraph.cli import main

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert main(["check", str(spec)]) == 1
    assert capsys.readouterr().err.startswith("error: the current folder no longer exists (it was deleted or moved)")


DEEP_NAME, DEEP_LEVELS = "d" * 200, 4200 // 201 + 1  # more than PATH_MAX (4,096 bytes) below tmp_path


def _deep_folder(tmp_path, files: dict[str, bytes] = {}) -> None:
    """DEEP_LEVELS folders DEEP_NAME below ``tmp_path``, ``files`` in the deepest."""
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(DEEP_LEVELS):  # step by step: the whole path is too long for one call
        os.mkdir(DEEP_NAME, dir_fd=fd)
        fd, parent = os.open(DEEP_NAME, os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    for file, data in files.items():
        with open(os.open(file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(data)
    os.close(fd)


def test_files_and_staged_folders_are_written_by_relative_names_in_a_current_folder_deeper_than_path_max(
        tmp_path, monkeypatch):
    # tempfile.mkstemp opened its file by an absolute name, too long there: `train --out r` failed to write
    # r/log.jsonl ("the name is too long") and left r/ holding only its lock file
    from adaptgraph.fileio import write_text_atomic
    from adaptgraph.fileio.folders import staged_folder

    _deep_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    for _ in range(DEEP_LEVELS):
        os.chdir(DEEP_NAME)
    write_text_atomic("r/log.jsonl", "{}\n")
    with staged_folder(Path("m")) as stage:
        write_text_atomic(stage / "a.json", "1\n")
    assert Path("r/log.jsonl").read_text() == "{}\n" and Path("m/a.json").read_text() == "1\n"
    assert sorted(os.listdir("r")) == ["log.jsonl"] and sorted(os.listdir(".")) == ["m", "r"]


def test_a_current_folder_deeper_than_path_max_still_loads_torch(spec, tmp_path):
    # torch's oneMKL aborted the process on import ("Intel oneMKL FATAL ERROR", exit 2) past 4,096 bytes
    import subprocess
    import sys

    name, levels = DEEP_NAME, DEEP_LEVELS
    _deep_folder(tmp_path, {"s.adapt": spec.read_bytes()})
    # a process that steps down the folders one at a time, then runs the command line there
    walk = (f"import os, runpy, sys; os.chdir({str(tmp_path)!r}); [os.chdir({name!r}) for _ in range({levels})]; "
            "sys.argv = ['adaptgraph', 'compile', 's.adapt']; runpy.run_module('adaptgraph', run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ADAPTGRAPH_TRACE_CACHE": "off"}
    done = subprocess.run([sys.executable, "-c", walk], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "trainable parameters: 322" in done.stdout


@pytest.mark.parametrize("plant, says", [
    ("file", "runs is a file, not a folder"),
    ("dangling link", "runs is a symbolic link to "),  # was: "10,000 run folders of this second exist already",
    ("fifo", "runs is a FIFO, not a folder"),  # and for search "cannot create the run folder (it already exists)"
])
@pytest.mark.parametrize("command", ["train", "search", "train --out runs/a/b"])
def test_a_default_runs_folder_that_is_no_folder_is_named_as_such(spec, tmp_path, monkeypatch, capsys, plant, says,
                                                                   command):
    from adaptgraph.cli import main

    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    {"file": lambda: runs.write_text("mine\n"), "dangling link": lambda: runs.symlink_to(tmp_path / "nowhere"),
     "fifo": lambda: os.mkfifo(runs)}[plant]()
    if command.startswith("train"):
        argv = ["train", str(spec), "--task", TASK, "--epochs", "1", *command.split()[1:]]
    else:
        argv = ["search", "--task", TASK, "--backbone", "zoo:bert-tiny", "-k", "1", "--epochs", "1"]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: runs") and says in err.splitlines()[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "s.adapt"]


def test_a_search_needs_no_temporary_folder(tmp_path, monkeypatch, capsys):
    # each trial's weights went through tempfile.TemporaryDirectory(): a full TMPDIR failed the final
    # retraining, the search still exited 0 and listed a best.safetensors it never wrote
    import errno
    import tempfile

    from adaptgraph.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tmp"))

    for name in ("TemporaryDirectory", "NamedTemporaryFile"):  # TMPDIR's; atomic writes use mkstemp beside
        monkeypatch.setattr(tempfile, name, full)  # their target, which this test leaves alone
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"{w} {i},{w}\n" for w in ("cat", "bread", "saw") for i in range(20)))
    out = tmp_path / "out"
    assert main(["search", "--task", f"csv:{data}", "--backbone", "zoo:bert-tiny", "-k", "1", "--no-baseline",
                 "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    listed = capsys.readouterr().out.splitlines()[-1].split(": ", 1)[1].split(", ")
    assert "best.safetensors" in listed
    assert set(listed) <= {p.name for p in out.iterdir()}


@pytest.mark.parametrize("signal_name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_command_terminated_mid_write_leaves_no_half_file(tmp_path, signal_name, code):
    # the default action of SIGTERM and SIGHUP killed the process between the temporary file and the rename:
    # a .s.adapt.XXXX.tmp stayed beside the spec (and merge's staged .OUT.new-XXXX folder beside its output)
    import subprocess
    import sys

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone   "zoo:bert-tiny"\nparallel @2 -> @3 {  rank = 2 }\n')
    before = spec.read_bytes()
    killer = ("import os, signal, sys; from adaptgraph.cli import main; "
              f"os.fsync = lambda fd: os.kill(os.getpid(), signal.{signal_name}); "
              f"sys.exit(main(['fmt', '--write', {str(spec)!r}]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", killer], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == code, done.stderr
    assert done.stderr.strip() in ("terminated", "interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.adapt"] and spec.read_bytes() == before


def test_a_wordnet_folder_holding_a_fifo_says_so(tmp_path, monkeypatch):
    # ADAPTGRAPH_WORDNET_DIR with a FIFO named data.noun was reported as "does not exist"
    from adaptgraph.errors import TaskError
    from adaptgraph.tasks import load_task

    os.mkfifo(tmp_path / "data.noun")
    monkeypatch.setenv("ADAPTGRAPH_WORDNET_DIR", str(tmp_path))
    with pytest.raises(TaskError, match=r"data\.noun is not a regular file"):
        load_task("wordnet:noun.animal,noun.food?per_class=5")


class _LibraryError(Exception):
    """Stands for torch.compile's InductorError, which wraps what the OS refused in its own error."""


_LibraryError.__module__ = "torch._inductor.exc"


@pytest.mark.parametrize("raised", [
    lambda: _chained(_LibraryError("OSError: [Errno 28] No space left on device")),
    lambda: _LibraryError("CppCompileError: fatal error: error writing to /tmp/x.s: No space left on device"),
    lambda: _LibraryError("could not write (os error 28)"),
])
def test_a_full_temporary_folder_inside_a_library_is_one_line(spec, monkeypatch, capsys, raised):
    # train --torch-compile with a full TMPDIR: "internal error: InductorError: OSError: [Errno 28] ..."
    from adaptgraph.cli import main, parser

    def fail():
        raise raised()

    monkeypatch.setenv("TMPDIR", "/full/tmp")
    monkeypatch.setattr(parser, "check_working_folder", fail)
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the operating system refused (the disk is full) inside torch: _LibraryError: ")
    assert "TMPDIR=/full/tmp" in err and "internal error" not in err


def _chained(error: Exception) -> Exception:
    try:
        raise OSError(28, "No space left on device")
    except OSError as e:
        error.__cause__ = e
    return error


def test_an_output_encoding_that_cannot_write_a_name_is_one_line(spec, tmp_path):
    # PYTHONIOENCODING=ascii (or a Latin-1 locale) and spéc.adapt: "internal error: UnicodeEncodeError"
    named = tmp_path / "spéc.adapt"
    named.write_bytes(spec.read_bytes())
    done = run_cli(["check", str(named)], {"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: the output holds text the output's encoding (ascii) cannot write: '\\xe9'")


def test_a_search_whose_final_retraining_fails_exits_1(tmp_path, monkeypatch, capsys):
    """Regression: the search exited 0 when the best trial's full-budget retraining failed, so a script
    took a run without best.safetensors for a result."""
    from adaptgraph.cli import main
    from adaptgraph.searcher import trial

    train = trial._train

    def failing_final(task, tic):
        if task.stage == "final":
            raise RuntimeError("out of memory")
        return train(task, tic)

    monkeypatch.setattr(trial, "_train", failing_final)
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"{w} {i},{w}\n" for w in ("cat", "bread", "saw") for i in range(20)))
    out = tmp_path / "out"
    assert main(["search", "--task", f"csv:{data}", "--backbone", "zoo:bert-tiny", "-k", "1", "--no-baseline",
                 "--epochs", "1", "--no-progress", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "retraining at full budget failed" in err and "--resume" in err and "Traceback" not in err
    assert not (out / "best.safetensors").exists()
    monkeypatch.setattr(trial, "_train", train)  # the cause fixed, --resume retrains the best trial
    assert main(["search", "--task", f"csv:{data}", "--backbone", "zoo:bert-tiny", "-k", "1", "--no-baseline",
                 "--epochs", "1", "--no-progress", "--out", str(out), "--resume"]) == 0
    assert (out / "best.safetensors").is_file()
