"""A real full disk: commands write onto a small tmpfs with only a few bytes free.

Earlier checks raised ENOSPC from a monkeypatched call; these mount a tmpfs (root only: skipped where
mounting is not allowed) and fill it, so the kernel refuses the write at whatever point it reaches:
the lock file, the first file, the weights. Each ends in one line naming the path and "the disk is
full", exit 1, nothing half-written, an --out folder the command made removed again, and every file
that was there before unchanged. Each mount is unmounted in the fixture's teardown. The last tests
raise ENOSPC at the same points without a mount, so that those run everywhere.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"
SPEC = 'backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n'


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "s.adapt"
    path.write_text(SPEC)
    return path


def tiny_bert(folder: Path) -> Path:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=16)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def run(argv, capsys) -> tuple[int, str]:
    from adaptgraph.cli import main
    from adaptgraph.fileio.reading import _READ

    _READ.clear()
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_full_disk_error(code: int, err: str, path) -> None:
    """Exit 1 and one ``error:`` line naming ``path`` and the full disk (plus at most a hint line)."""
    lines = err.strip().splitlines()
    assert code == 1, err
    assert lines[0].startswith(f"error: {path}") and "(the disk is full)" in lines[0], err
    assert len(lines) <= 2 and all(line.strip().startswith("hint:") for line in lines[1:]), err
    assert "Traceback" not in err and "internal error" not in err


def no_temporary_names(disk) -> None:  # the conftest fixture's Disk
    left = [name for name in disk.files() if Path(name).name.startswith(".")
            and (Path(name).name.endswith(".tmp") or ".new-" in name or ".old-" in name)]
    assert left == []


# -- a new --out folder on a disk with no byte free: the lock file's record is the first write --------
@pytest.mark.parametrize("command", ["train", "score"])
def test_a_new_out_folder_on_a_full_disk_is_removed_again(disk, spec, capsys, command):
    # the claim made DIR and its lock file, the disk refused the lock's record, and DIR stayed behind
    # holding only an empty .adaptgraph.lock (train, score, export, import and merge alike)
    out = disk.path / "run"
    disk.fill(0)
    argv = {"train": ["train", spec, "--task", TASK, "--epochs", "1"],
            "score": ["score", "zoo:bert-tiny", "--task", TASK, "--batches", "1"]}[command]
    code, err = run([*argv, "--no-progress", "--out", out], capsys)
    assert_full_disk_error(code, err, out / ".adaptgraph.lock")
    assert not out.exists()
    assert disk.files() == {}


# -- an append the disk refuses half-way: the search journal -------------------------------------------
def test_a_line_the_full_disk_takes_only_in_part_is_cut_off_and_closing_raises_nothing(disk):
    # the appender was a buffered text file: the refused line stayed in its buffer, close() wrote it again
    # and raised a bare OSError, which replaced the error naming the journal ("while writing the output
    # or a file": no path, in the search's `finally: journal.close()`)
    from adaptgraph.errors import SearchError
    from adaptgraph.fileio import append_line, open_appender

    path = disk.path / "journal.jsonl"
    f = open_appender(path, SearchError)
    append_line(f, '{"a": 1}\n', path, SearchError)
    disk.fill(100)  # room for part of the next line, not all of it
    with pytest.raises(SearchError) as e:
        append_line(f, '{"b": "' + "x" * 8000 + '"}\n', path, SearchError)
    assert str(e.value).startswith(f"error: {path}: cannot append to (the disk is full)")
    f.close()  # nothing pending: no second failure
    assert path.read_text() == '{"a": 1}\n'  # the part the disk took is cut off again
    disk.free_up()
    append_line(f := open_appender(path, SearchError), '{"c": 2}\n', path, SearchError)
    f.close()
    assert path.read_text() == '{"a": 1}\n{"c": 2}\n'


def search_argv(out):
    return ["search", "--task", TASK, "--backbone", "zoo:bert-tiny", "-k", "1", "--no-baseline", "--epochs", "1",
            "--no-progress", "--out", out]


def test_a_search_that_fills_the_disk_at_its_journal_resumes_once_space_is_freed(disk, capsys, monkeypatch):
    from adaptgraph.searcher.journal import Journal

    append, filled = Journal.append, []

    def fill_first(self, event, record):
        if not filled:
            filled.append(event)
            disk.fill(0)  # the disk fills up just before the first journal record is written
        return append(self, event, record)

    monkeypatch.setattr(Journal, "append", fill_first)
    out = disk.path / "search"
    code, err = run(search_argv(out), capsys)
    assert_full_disk_error(code, err, out / "journal.jsonl")
    no_temporary_names(disk)
    kept = {name: digest for name, digest in disk.files().items()}
    disk.free_up()
    code, err = run([*search_argv(out), "--resume"], capsys)
    assert code == 0, err
    now = disk.files()
    assert all(now[name] == digest for name, digest in kept.items() if name.endswith(("manifest.json", "scores.json")))
    assert {"search/best.adapt", "search/best.safetensors", "search/summary.json"} <= set(now)
    no_temporary_names(disk)


# -- folders a failed command made on the way to its output ---------------------------------------------
@pytest.mark.parametrize("command", ["train", "compile", "merge"])
def test_the_folders_made_on_the_way_to_an_output_are_removed_when_the_disk_is_full(disk, spec, capsys, tmp_path,
                                                                                     command):
    # `--out new/deeper/run` and `-o new/deeper/c.safetensors`: the empty new/deeper/ stayed behind
    (disk.path / "kept").mkdir()  # an empty folder that was there before stays
    out = disk.path / "new" / "deeper" / ("c.safetensors" if command == "compile" else "run")
    disk.fill(0)
    if command == "merge":
        import adaptgraph

        bert = tiny_bert(tmp_path / "bert")
        model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert}"\nparallel '
                                                    "encoder.layer.0.attention.self.value { bias = false }\n"))
        adaptgraph.save_adapters(model, tmp_path / "a.safetensors")
        argv = ["merge", tmp_path / "a.safetensors", "--no-progress", "--out", out]
    else:
        argv = {"train": ["train", spec, "--task", TASK, "--epochs", "1", "--no-progress", "--out", out],
                "compile": ["compile", spec, "-o", out]}[command]
    code, err = run(argv, capsys)
    assert_full_disk_error(code, err, out)
    assert disk.files() == {"kept": "folder"}


def test_a_failed_write_removes_only_the_empty_folders_it_made(tmp_path, monkeypatch):
    # portable: the temporary file refused (ENOSPC) right after the folders were made
    import errno

    from adaptgraph.errors import FileAccessError
    from adaptgraph.fileio import writing

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writing, "temp_file", full)
    (tmp_path / "old").mkdir()
    for target in ("new/deeper/x.json", "old/new/x.json", "old/x.json", "gone/../old/y.json"):
        with pytest.raises(FileAccessError, match=r"cannot write \(the disk is full\)"):
            writing.write_text_atomic(tmp_path / target, "{}")
        assert sorted(p.name for p in tmp_path.iterdir()) in (["old"], ["gone", "old"]), target
        assert (tmp_path / "old").is_dir() and list((tmp_path / "old").iterdir()) == []


# -- a library's own folder on the full disk: Ray's session folder ------------------------------------------
class _RayThatCannotStart:
    """Stands for ``ray`` whose ``init`` fails as Ray 2 does when its server cannot write to a full session
    folder (measured: `search --executor ray` with TMPDIR on a full tmpfs, after 30 s)."""

    def __init__(self, error: Exception):
        self.error = error

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs):
        raise self.error


def test_ray_that_cannot_start_on_a_full_disk_names_its_session_folder(disk, monkeypatch):
    # was "internal error: RuntimeError: Timed out waiting for file .../ray/session_.../gcs_server_port_..." (exit 3)
    from adaptgraph.errors import SearchError
    from adaptgraph.searcher.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_TMPDIR", str(disk.path))
    disk.fill(0)
    timed_out = RuntimeError(f"Timed out waiting for file {disk.path}/ray/session_x/gcs_server_port_y")
    with pytest.raises(SearchError) as e:
        RayExecutor()._remote_fn(_RayThatCannotStart(timed_out))
    assert str(e.value).startswith(f"error: {disk.path / 'ray'}: cannot start Ray (the disk is full; Ray said "
                                   "RuntimeError: Timed out waiting for file")


def test_ray_that_cannot_join_a_cluster_is_one_line(monkeypatch, tmp_path):
    from adaptgraph.errors import SearchError
    from adaptgraph.searcher.ray_executor import RayExecutor

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    refused = ConnectionError("Could not find any running Ray instance. Please specify the one to connect to")
    with pytest.raises(SearchError) as e:
        RayExecutor(address="10.0.0.1:6379")._remote_fn(_RayThatCannotStart(refused))
    assert str(e.value).startswith("error: cannot start Ray (ConnectionError: Could not find any running Ray")


# -- an output folder whose files belong together: replaced whole, or not at all ---------------------------
def _adapter_file(tmp_path: Path, name: str, seed: int) -> Path:
    """An adapter file of one LoRA edge on a tiny BERT, its weights drawn from ``seed``."""
    import torch

    import adaptgraph

    bert = tmp_path / "bert"
    if not bert.exists():
        tiny_bert(bert)
    model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert}"\nparallel encoder.layer.0.attention.self.value '
                                                "{ bias = false, act = none, norm = none }\n"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    adaptgraph.save_adapters(model, tmp_path / name)
    return tmp_path / name


def test_an_export_the_disk_stops_half_way_leaves_the_old_peft_folder_whole(disk, tmp_path, capsys, monkeypatch):
    # export wrote adapter_model.safetensors, then the disk was full for adapter_config.json: the folder
    # held the new weights beside the old config, which PEFT loads without a word
    from adaptgraph.fileio import writing
    from adaptgraph.interop import peft_export

    out = disk.path / "peft"
    code, err = run(["export", _adapter_file(tmp_path, "a.safetensors", 1), "--format", "peft", "--out", out], capsys)
    assert code == 0, err
    (out).chmod(0o750)
    before = disk.files()
    write = writing.write_bytes_atomic

    def filling(path, data, **kw):
        if Path(path).name == "adapter_config.json":
            disk.fill(0)  # another process fills the disk between the two files
        return write(path, data, **kw)

    monkeypatch.setattr(peft_export, "write_bytes_atomic", filling)
    code, err = run(["export", _adapter_file(tmp_path, "b.safetensors", 2), "--format", "peft", "--out", out], capsys)
    assert_full_disk_error(code, err, out / "adapter_config.json")  # named where the user looks, not the stage
    assert ".new-" not in err
    assert disk.files() == before
    assert out.stat().st_mode & 0o777 == 0o750
    monkeypatch.setattr(peft_export, "write_bytes_atomic", write)
    disk.free_up()
    code, err = run(["export", tmp_path / "b.safetensors", "--format", "peft", "--out", out], capsys)
    assert code == 0, err
    assert disk.files()["peft/adapter_model.safetensors"] != before["peft/adapter_model.safetensors"]
    assert out.stat().st_mode & 0o777 == 0o750  # the replaced folder's mode carries over


@pytest.mark.parametrize("command", ["export", "merge"])
def test_a_new_folder_swapped_in_has_the_mode_the_umask_gives(tmp_path, capsys, command):
    # merge's model folder was the 0700 of its private stage: a model shared with others was unreadable to them
    mask = os.umask(0o022)
    try:
        source = _adapter_file(tmp_path, "a.safetensors", 1)
        extra = ["--format", "peft"] if command == "export" else ["--no-progress"]
        code, err = run([command, source, *extra, "--out", tmp_path / "out"], capsys)
    finally:
        os.umask(mask)
    assert code == 0, err
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_a_score_the_disk_stops_before_its_heat_map_keeps_the_old_scores(disk, capsys, monkeypatch):
    # scores.json was replaced in place, then the disk was full for heatmap.png: new scores beside the old map
    from adaptgraph.score.edge_scores import EdgeScores

    out = disk.path / "score"
    argv = ["score", "zoo:bert-tiny", "--task", TASK, "--batches", "1", "--no-progress", "--out", out]
    code, err = run([*argv, "--metrics", "rank"], capsys)
    assert code == 0, err
    before = disk.files()
    heatmap = EdgeScores.heatmap

    def filling(self, path, *args, **kwargs):
        disk.fill(0)
        return heatmap(self, path, *args, **kwargs)

    monkeypatch.setattr(EdgeScores, "heatmap", filling)
    code, err = run([*argv, "--metrics", "rank", "fro"], capsys)  # other scores: a different scores.json
    assert_full_disk_error(code, err, out / "heatmap.png")
    assert disk.files() == before


@pytest.mark.parametrize("command", ["export", "score"])
def test_an_out_folder_that_is_a_link_is_refused_before_anything_is_written(tmp_path, capsys, command):
    # the swap would replace the link, not the folder it names: refused as merge refuses it
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    argv = {"export": ["export", _adapter_file(tmp_path, "a.safetensors", 1), "--format", "peft"],
            "score": ["score", "zoo:bert-tiny", "--task", TASK, "--batches", "1", "--no-progress"]}[command]
    code, err = run([*argv, "--out", tmp_path / "out"], capsys)
    assert code == 1 and "refusing to replace a symbolic link with a folder" in err.splitlines()[0], err
    assert list((tmp_path / "real").iterdir()) == [] and (tmp_path / "out").is_symlink()


# -- the same points, portable: ENOSPC raised where the kernel raised it above ------------------------------
def test_a_torn_append_is_cut_off_without_a_real_disk(tmp_path, monkeypatch):
    import errno

    from adaptgraph.errors import SearchError
    from adaptgraph.fileio import append_line, open_appender, writing

    path = tmp_path / "journal.jsonl"
    f = open_appender(path, SearchError)
    append_line(f, '{"a": 1}\n', path, SearchError)
    real_write, calls = os.write, []

    def short_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:5]))  # the disk takes five bytes ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... and then no more

    monkeypatch.setattr(writing.os, "write", short_then_full)
    with pytest.raises(SearchError, match=r"journal\.jsonl: cannot append to \(the disk is full\)"):
        append_line(f, '{"b": 2}\n', path, SearchError)
    monkeypatch.undo()
    f.close()
    assert path.read_text() == '{"a": 1}\n'


def test_an_export_stopped_before_its_config_leaves_the_old_folder_whole_without_a_real_disk(tmp_path, capsys,
                                                                                              monkeypatch):
    import errno

    from adaptgraph.fileio import os_failure, writing
    from adaptgraph.interop import peft_export

    out = tmp_path / "peft"
    assert run(["export", _adapter_file(tmp_path, "a.safetensors", 1), "--format", "peft", "--out", out], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write = writing.write_bytes_atomic

    def full_for_config(path, data, **kw):
        if Path(path).name == "adapter_config.json":
            raise os_failure(OSError(errno.ENOSPC, "No space left on device"), path, "cannot write")
        return write(path, data, **kw)

    monkeypatch.setattr(peft_export, "write_bytes_atomic", full_for_config)
    code, err = run(["export", _adapter_file(tmp_path, "b.safetensors", 2), "--format", "peft", "--out", out], capsys)
    assert_full_disk_error(code, err, out / "adapter_config.json")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if ".new-" in p.name or ".old-" in p.name] == []


def test_folders_made_before_the_disk_refused_an_inner_one_are_removed(disk, spec, capsys):
    # no inode left after `new/`: mkdir -p made new/, failed on new/deeper, and new/ stayed behind
    import subprocess as sp

    out = disk.path / "new" / "deeper" / "c.safetensors"
    used = os.statvfs(disk.path)
    sp.run(["mount", "-o", f"remount,nr_inodes={used.f_files - used.f_ffree + 1}", str(disk.path)], check=True)
    code, err = run(["compile", spec, "-o", out], capsys)
    assert_full_disk_error(code, err, out)
    assert disk.files() == {}
