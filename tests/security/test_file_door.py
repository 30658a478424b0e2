"""The one door for files (adaptgraph/fileio): links, bounds, regular files, what the OS refuses (issue 21)."""
from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from adaptgraph.cli import main
from adaptgraph.errors import AdaptGraphError, FileAccessError, SearchError
from adaptgraph.fileio import (check_outputs, open_appender, read_bytes, staged_folder, truncate_file,
                               write_bytes_atomic, write_text_atomic)
from adaptgraph.fileio.safetensors_files import check_safetensors

PACKAGE = Path(__file__).resolve().parents[2] / "adaptgraph"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


# -- 1. writes never follow links ---------------------------------------------------------------
def test_a_write_over_a_planted_link_is_refused_and_the_file_it_names_is_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(victim)
    with pytest.raises(FileAccessError, match="refusing to write over a symbolic link"):
        write_text_atomic(out / "summary.json", "{}")
    assert victim.read_text() == "precious" and (out / "summary.json").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # no temporary left


def test_appending_and_truncating_never_go_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "journal.jsonl").symlink_to(victim)
    with pytest.raises(SearchError, match="journal.jsonl: cannot append to"):
        open_appender(tmp_path / "journal.jsonl", SearchError)
    with pytest.raises(FileAccessError, match="cannot repair"):
        truncate_file(tmp_path / "journal.jsonl", 0)
    os.link(victim, tmp_path / "hard.jsonl")  # a hard link: the same file under another name
    with pytest.raises(FileAccessError, match="not a plain file of its own"):
        open_appender(tmp_path / "hard.jsonl")
    assert victim.read_text() == "precious\n"


def test_a_search_journal_planted_as_a_link_is_refused(tmp_path):
    from adaptgraph.searcher.journal import JOURNAL, Journal

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    journal = Journal.open(tmp_path / "run", {"task": "t"})
    try:
        (tmp_path / "run" / JOURNAL).symlink_to(victim)  # planted after the folder was claimed
        with pytest.raises(SearchError, match="journal.jsonl: cannot append to"):
            journal.append("trial_started", {"stage": "search", "trial": 0})
    finally:
        journal.close()
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("command", ["fmt", "convert"])
def test_a_spec_named_through_a_link_is_written_where_the_link_points_and_the_link_stays(tmp_path, command):
    real = tmp_path / "real.adapt"
    real.write_text("edge   @1 -> @2\n")
    link = tmp_path / "link.adapt"
    link.symlink_to(real)
    args = ["fmt", "--write", str(link)] if command == "fmt" else ["convert", str(real), "--to", "adapt",
                                                                     "-o", str(link)]
    assert main(args) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "edge @1 -> @2\n" in real.read_text() and "edge   @1" not in real.read_text()


@pytest.mark.parametrize("command", ["compile", "plot"])
def test_every_named_output_file_follows_a_link_alike(tmp_path, command):
    """Regression: `compile -o LINK` was refused while `select -o LINK` and `convert -o LINK` followed it."""
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nedge @1 -> @3\n')
    suffix = ".safetensors" if command == "compile" else ".png"
    real, link = tmp_path / f"real{suffix}", tmp_path / f"link{suffix}"
    real.write_bytes(b"old")
    link.symlink_to(real)
    args = ["compile", str(spec), "-o", str(link)] if command == "compile" else ["plot", str(spec), "--out", str(link)]
    assert main(args) == 0
    assert link.is_symlink() and os.readlink(link) == str(real) and real.read_bytes() != b"old"


# -- 2. outputs never over inputs ---------------------------------------------------------------
def test_an_output_folder_may_not_be_hold_or_sit_inside_an_input(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "alias").symlink_to(model)
    for out, relation in [(model, "is"), (tmp_path / "alias", "is"), (tmp_path / "x" / ".." / "model", "is"),
                          (model / "sub", "sits inside"), (tmp_path, "holds")]:
        with pytest.raises(FileAccessError, match=f"the output folder {relation} the backbone folder"):
            check_outputs(out, {"the backbone folder": model})
    check_outputs(tmp_path / "elsewhere", {"the backbone folder": model})
    data = tmp_path / "data.csv"
    data.write_text("text,label\n")
    check_outputs(tmp_path / "data.csv.d", {"the data file": data})  # a file holds no folder


def test_train_into_the_folder_of_its_own_data_file_is_refused(tmp_path, capsys):
    data = tmp_path / "d" / "data.csv"
    data.parent.mkdir()
    data.write_text("text,label\na,x\nb,y\n")
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\n')
    assert main(["train", str(spec), "--task", f"csv:{data}", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "the output folder holds the task's data file" in err and "Traceback" not in err


def test_a_staged_folder_replaces_the_old_one_only_when_complete(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(out) as stage:
            (stage / "model.safetensors").write_text("half")
            raise RuntimeError("the disk filled up")
    assert (out / "model.safetensors").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the stage is gone
    with staged_folder(out) as stage:
        (stage / "model.safetensors").write_text("new")
    assert (out / "model.safetensors").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old content is gone


def test_a_staged_folder_never_replaces_a_link_and_says_it_is_one(tmp_path):
    """Regression: `merge --out LINK_TO_A_FOLDER` was refused as "something that is not a folder"."""
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    with pytest.raises(FileAccessError, match="out: refusing to replace a symbolic link with a folder"):
        with staged_folder(tmp_path / "out") as stage:
            (stage / "config.json").write_text("{}")
    assert (tmp_path / "out").is_symlink() and list((tmp_path / "real").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "real"]  # the stage is gone


# -- 3. bounded reads of regular files ----------------------------------------------------------
def _within(seconds: float, fn):
    """fn() in a thread; fail (rather than hang the suite) when it does not return in time."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", _catch(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    return result["value"]


def _catch(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - returned for the test to look at
        return e


@needs_fifo
def test_a_fifo_is_refused_at_once_as_a_spec_a_data_file_or_an_adapter_file(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert _within(10, lambda: main(["check", str(fifo)])) == 1
    assert "it is a FIFO, not a regular file" in capsys.readouterr().err
    from adaptgraph.compiler.adapter_files import read_adapter_file
    from adaptgraph.tasks import load_task

    for fn in (lambda: load_task(f"csv:{fifo}"), lambda: read_adapter_file(fifo), lambda: load_task(f"lm:{fifo}")):
        e = _within(10, fn)
        assert isinstance(e, AdaptGraphError) and "it is a FIFO, not a regular file" in str(e), e


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_at_once_wherever_it_is_named(tmp_path, capsys):
    from adaptgraph.score.edge_scores import EdgeScores
    from adaptgraph.tasks import load_task

    for fn in (lambda: load_task("lm:/dev/zero"), lambda: EdgeScores.load("/dev/zero"),
               lambda: load_task("csv:/dev/zero")):
        e = _within(10, fn)
        assert isinstance(e, AdaptGraphError) and "it is a device, not a regular file" in str(e), e
    (tmp_path / "peft").mkdir()
    (tmp_path / "peft" / "adapter_config.json").symlink_to("/dev/zero")  # a PEFT folder's config
    assert _within(10, lambda: main(["import", str(tmp_path / "peft"), "--out", str(tmp_path / "out")])) == 1
    assert "adapter_config.json: cannot read adapter_config.json: it is a device" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_socket_or_a_loop_of_links_is_named_for_what_it_is(tmp_path):
    """Regression: a socket read as "no such device, or a FIFO with no writer", and a loop of links, read,
    as "a symbolic link ... which adaptgraph does not write through"."""
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    try:
        with pytest.raises(FileAccessError, match=r"/s: cannot read the file: it is a socket, not a regular file"):
            read_bytes(tmp_path / "s", "spec")
    finally:
        sock.close()
    with pytest.raises(FileAccessError, match=r"/a: cannot read the file \(a loop of symbolic links"):
        read_bytes(tmp_path / "a", "spec")


def test_a_bound_names_itself_and_how_to_raise_it(tmp_path, monkeypatch):
    big = tmp_path / "scores.json"
    big.write_bytes(b" " * 2048)
    monkeypatch.setenv("ADAPTGRAPH_MAX_JSON_BYTES", "1024")
    with pytest.raises(FileAccessError) as e:
        read_bytes(big, "json")
    assert "larger than 1 KiB, the bound for a JSON file" in str(e.value)
    assert "ADAPTGRAPH_MAX_JSON_BYTES=BYTES" in str(e.value)
    monkeypatch.setenv("ADAPTGRAPH_MAX_JSON_BYTES", "4096")
    assert len(read_bytes(big, "json")) == 2048
    monkeypatch.setenv("ADAPTGRAPH_MAX_JSON_BYTES", "lots")
    with pytest.raises(FileAccessError, match="not a positive whole number of bytes"):
        read_bytes(big, "json")


def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


@pytest.mark.parametrize("header, data, why", [
    ({"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}}, b"\0" * 16, "beyond the 16"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 16, "needs 16 bytes"),
    ({"w": {"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, "dtype 'Q9'"),
])
def test_a_safetensors_header_is_checked_before_anything_is_mapped(tmp_path, header, data, why):
    path = tmp_path / "a.safetensors"
    path.write_bytes(_safetensors(header, data))
    with pytest.raises(FileAccessError, match=re.escape(why)):
        check_safetensors(path)


def test_a_header_longer_than_the_file_or_its_bound_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    with pytest.raises(FileAccessError, match=f"the header declares {2**62} bytes, the file holds 2"):
        check_safetensors(path)
    path.write_bytes(_safetensors({"__metadata__": {"note": "x" * 100}}, b""))
    monkeypatch.setenv("ADAPTGRAPH_MAX_HEADER_BYTES", "64")
    with pytest.raises(FileAccessError, match="(?s)its header is larger than 64 bytes, the bound for a safetensors header.*"
                                              "ADAPTGRAPH_MAX_HEADER_BYTES=BYTES"):
        check_safetensors(path)


# -- 6. the operating system says no -------------------------------------------------------------
@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "the file system is read-only"),
                                          (errno.EACCES, "permission denied")])
def test_a_refused_write_is_one_line_naming_the_path_and_leaves_nothing(tmp_path, monkeypatch, code, reason):
    target = tmp_path / "metrics.json"

    def refuse(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(FileAccessError) as e:
        write_bytes_atomic(target, b"{}")
    assert str(e.value).splitlines()[0] == f"error: {target}: cannot write ({reason})"
    assert list(tmp_path.iterdir()) == []


def test_names_too_long_and_outputs_that_are_folders_are_user_errors(tmp_path, capsys):
    spec = tmp_path / "s.adapt"
    spec.write_text("edge @1 -> @2\n")
    assert main(["convert", str(spec), "--to", "json", "-o", str(tmp_path / ("x" * 300 + ".json"))]) == 1
    assert "cannot write (the name is too long for the file system)" in capsys.readouterr().err
    (tmp_path / "d.json").mkdir()
    assert main(["convert", str(spec), "--to", "json", "-o", str(tmp_path / "d.json")]) == 1
    assert "it is a folder, not a file" in capsys.readouterr().err
    assert main(["train", str(spec), "--task", "digits", "--out", str(tmp_path / ("y" * 300))]) == 1
    err = capsys.readouterr().err
    assert "the name is too long for the file system" in err and "Traceback" not in err


def test_an_os_error_from_a_library_is_a_one_line_user_error(monkeypatch, capsys):
    import adaptgraph.cli.commands.spec_commands as commands

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/mnt/out/model.safetensors")

    monkeypatch.setattr(commands, "run_check", full_disk)
    assert main(["check", "x.adapt"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == \
        "error: /mnt/out/model.safetensors: the operating system refused (the disk is full)"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_to_a_full_disk_is_one_line_without_a_made_up_path(tmp_path):
    """Regression: `adaptgraph check s.adapt > /dev/full` said "error: ?: the operating system refused"."""
    import subprocess
    import sys

    spec = tmp_path / "s.adapt"
    spec.write_text("edge @1 -> @2\n")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "adaptgraph", "check", str(spec)], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=PACKAGE.parent, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == \
        "error: the operating system refused (the disk is full) while writing the output or a file"


# -- the door is the only way in or out ---------------------------------------------------------
DIRECT = re.compile(r"(?<![\w.])(?<!def )open\(|\bos\.open\(|\.read_text\(|\.read_bytes\(|\.write_text\(|\.write_bytes\("
                    r"|\bjson\.load\(|\bsafe_open\(|\bload_file\(|\bos\.replace\(|\bshutil\.|\btorch\.load\((?!io\.BytesIO)"
                    r"|\.unlink\(|\.savefig\((?!buffer)|(?<!Journal)\.open\(|\bos\.fdopen\(|\bos\.rename\("
                    r"|\bos\.remove\(|rmtree\(|\bio\.open\(")
ALLOWED = {  # file -> why it may touch files itself
    "spec/syntax.py": "the grammar shipped inside the package (importlib.resources)",
}


def test_no_direct_file_calls_outside_the_door():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("fileio/") or rel in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if DIRECT.search(code):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "read and write files through adaptgraph.fileio:\n" + "\n".join(found)


# -- 5. regular expressions from files ----------------------------------------------------------
def test_pattern_matching_is_bounded_in_time_and_invalid_patterns_are_user_errors(monkeypatch):
    from adaptgraph.fileio import patterns

    start = time.perf_counter()
    assert patterns.pattern_key(["(.*)*Z", "(.*\\..*)*Z"], "a." * 499, "cfg.json", "alpha_pattern") is None
    assert time.perf_counter() - start < 5  # exponential in re: (.*)*Z backtracks 2^n ways
    monkeypatch.setattr(patterns, "TIMEOUT_S", 1e-4)  # a costly backreference pattern runs into the limit
    with pytest.raises(FileAccessError, match=r"cfg.json: alpha_pattern\['\(\(a\+\)\+\)\\\\4Z'\] takes longer than"):
        patterns.pattern_key([r"((a+)+)\4Z"], "a" * 900, "cfg.json", "alpha_pattern")
    with pytest.raises(FileAccessError, match=r"is not a valid regular expression"):
        patterns.pattern_key(["[z-a]"], "query", "cfg.json", "alpha_pattern")
    with pytest.raises(FileAccessError, match="a pattern of 5000 characters"):
        patterns.pattern_key(["q" * 5000], "query", "cfg.json", "alpha_pattern")


# -- 6. (continued) a failed run releases its folder and leaves nothing that looks finished ------
def test_a_train_that_cannot_write_releases_its_folder_and_leaves_no_finished_run(tmp_path, monkeypatch, capsys):
    import adaptgraph.compiler.adapter_files as saving
    from adaptgraph.fileio.folder_claims import claim_folder

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:vit-tiny"\nparallel @2 -> @3 { rank = 2 }\n')

    def full_disk(path, data, **kw):
        raise FileAccessError(f"{path}: cannot write (the disk is full)")

    monkeypatch.setattr(saving, "write_bytes_atomic", full_disk)
    out = tmp_path / "run"
    assert main(["train", str(spec), "--task", "digits?size=8", "--steps", "1", "--out", str(out),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / 'adapters.safetensors'}: cannot write (the disk is full)"), err
    assert not (out / "metrics.json").exists()
    claim_folder(out, "train").release()  # the lock was released: the folder can be claimed at once


@needs_fifo
def test_a_fifo_in_a_model_folder_is_refused_before_transformers_opens_it(tmp_path):
    pytest.importorskip("transformers")
    from adaptgraph.backbones.hf_config import check_model_folder
    from adaptgraph.errors import BackboneError

    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 32}')
    os.mkfifo(tmp_path / "tokenizer.json")
    e = _within(10, lambda: check_model_folder(tmp_path, f"hf:{tmp_path}"))
    assert isinstance(e, BackboneError) and "tokenizer.json is not a regular file" in str(e), e
