"""Cases found by playing the hostile catalogue against the file door (issue 21, QA round).

Each test is one class of failure, fixed once in the door: JSON objects with a key given twice,
regular expressions in a PEFT config that no module name is matched against.
"""
from __future__ import annotations

import json

import pytest

from adaptgraph.errors import FileAccessError, InteropError
from adaptgraph.fileio import parse_json, read_json
from adaptgraph.fileio.patterns import check_patterns
from adaptgraph.fileio.safetensors_files import check_safetensors


# -- a key given twice: one reader takes the first value, another the last --------------------------
@pytest.mark.parametrize("text", ['{"r": 2, "r": 64}', '{"a": {"x": 1, "x": 1}}', '[{"k": 1, "k": 2}]'])
def test_a_json_key_given_twice_is_refused_naming_the_file_and_the_key(tmp_path, text):
    path = tmp_path / "adapter_config.json"
    path.write_text(text)
    with pytest.raises(FileAccessError, match=r"adapter_config.json: the key '(r|x|k)' appears twice in one object"):
        read_json(path)
    assert parse_json('{"a": 1, "b": {"a": 2}}', path) == {"a": 1, "b": {"a": 2}}  # same key, other objects


def test_a_json_key_given_twice_ends_every_command_with_exit_1(tmp_path, capsys):
    from adaptgraph.cli import main

    scores = tmp_path / "scores.json"
    scores.write_text('{"format": "adaptgraph.edge_scores", "format": "x"}')
    assert main(["select", str(scores), "-k", "1"]) == 1
    assert "appears twice" in capsys.readouterr().err


def test_a_safetensors_header_naming_a_tensor_twice_is_refused(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, ' \
             b'"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
    path = tmp_path / "a.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    with pytest.raises(FileAccessError, match="appears twice"):
        check_safetensors(path)


# -- every regular expression in a PEFT config is compiled, not only those matched ---------------------
@pytest.mark.parametrize("field, value, shown", [
    ("target_modules", "((query", "target_modules"),
    ("rank_pattern", {"((x": 3}, "rank_pattern['((x']"),
    ("alpha_pattern", {"[z-a]": 3}, "alpha_pattern['[z-a]']"),
])
def test_an_invalid_pattern_anywhere_in_adapter_config_is_a_user_error(tmp_path, field, value, shown):
    with pytest.raises(InteropError) as e:
        check_patterns(value, tmp_path / "adapter_config.json", field, InteropError)
    assert f"adapter_config.json: {shown} is not a valid regular expression" in str(e.value)
    check_patterns(["layers.0.q_proj", r"layer\.\d+\.query"], "x", "rank_pattern")  # valid ones pass


def test_import_refuses_an_invalid_rank_pattern_it_would_never_match(tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    from adaptgraph.interop import import_peft

    base = transformers.AutoModel.from_pretrained(_tiny_bert(tmp_path / "bert"))
    folder = tmp_path / "peft"
    peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"])).save_pretrained(folder)
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "rank_pattern": {"((x": 3}}))
    with pytest.raises(InteropError, match=r"rank_pattern\['\(\(x'\] is not a valid regular expression"):
        import_peft(folder, tmp_path / "imported")
    assert not (tmp_path / "imported").exists()


def _tiny_bert(folder):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=16)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


# -- an output folder inside the run it reads: the run folder is the input, not only its adapter file ----
@pytest.mark.parametrize("command", ["merge", "export"])
def test_an_output_inside_the_run_folder_it_reads_is_refused(tmp_path, capsys, command):
    import adaptgraph
    from adaptgraph.cli import main

    bert = _tiny_bert(tmp_path / "bert")
    run = tmp_path / "run"
    model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert}"\nparallel '
                                                "encoder.layer.0.attention.self.value { bias = false, act = none, "
                                                "norm = none }\n"))
    adaptgraph.save_adapters(model, run / "adapters.safetensors")
    before = sorted(p.name for p in run.iterdir())
    extra = ["--format", "peft"] if command == "export" else []
    assert main([command, str(run), *extra, "--out", str(run / "sub")]) == 1
    err = capsys.readouterr().err
    assert f"{run / 'sub'}: the output folder sits inside the run {run}" in err and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written inside the run


# -- a single output file that is the command's own input ---------------------------------------------
@pytest.mark.parametrize("argv", [
    ["select", "{scores}", "-k", "1", "-o", "{scores}"],
    ["compile", "{spec}", "-o", "{spec}"],
    ["plot", "{spec}", "--scores", "{scores}", "--out", "{scores_png}"],
])
def test_an_output_file_that_is_an_input_of_the_command_is_refused_and_the_input_survives(tmp_path, capsys, argv):
    from adaptgraph.cli import main
    from adaptgraph.fileio.reading import _READ

    _READ.clear()
    spec = tmp_path / "s.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\nparallel @2 -> @3 { rank = 2 }\n')
    scores = tmp_path / "scores.json"
    assert main(["score", "zoo:bert-tiny", "--task", "wordnet:noun?per_class=4", "--batches", "1", "--batch-size",
                 "2", "--out", str(tmp_path / "run")]) == 0 if "select" in argv or "plot" in argv else True
    if (tmp_path / "run").exists():
        (tmp_path / "run" / "scores.json").rename(scores)
    png = tmp_path / "scores.png"
    if "plot" in argv:
        scores.rename(png)  # a scores file named .png, given as both the heat map's input and the plot
    names = {"scores": str(scores), "spec": str(spec), "scores_png": str(png)}
    argv = [a.format(**names).replace(str(scores), str(png)) if "plot" in argv else a.format(**names) for a in argv]
    victim = png if "plot" in argv else scores if "select" in argv else spec
    before = victim.read_bytes()
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{victim}: the output file is a file this command reads" in err and "Traceback" not in err, err
    assert victim.read_bytes() == before


def test_fmt_write_and_convert_in_place_still_rewrite_the_spec_they_read(tmp_path):
    from adaptgraph.cli import main

    spec = tmp_path / "s.adapt"
    spec.write_text('backbone   "zoo:bert-tiny"\n')
    assert main(["fmt", "--write", str(spec)]) == 0
    assert 'backbone "zoo:bert-tiny"\n' in spec.read_text()
    spec.write_text('backbone   "zoo:bert-tiny"\n')
    assert main(["convert", str(spec), "--to", "adapt", "-o", str(spec)]) == 0
    assert 'backbone "zoo:bert-tiny"\n' in spec.read_text()


# -- the OS says no inside a library or on the lock file: the path is named, never "?" or exit 3 -----
def test_a_full_disk_on_the_lock_file_names_the_lock_file(tmp_path, monkeypatch):
    import errno
    import os as os_module

    from adaptgraph.fileio import folder_claims
    from adaptgraph.errors import RunFolderError

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(folder_claims.os, "pwrite", full)
    with pytest.raises(RunFolderError) as e:
        folder_claims.claim_folder(tmp_path / "out", "train")
    lock = tmp_path / "out" / ".adaptgraph.lock"
    assert str(e.value).startswith(f"error: {lock}: cannot write the run folder's lock file (the disk is full)")
    assert not os_module.path.exists(tmp_path / "out")  # the folder the claim made is removed again
    (tmp_path / "mine").mkdir()  # a folder that was there stays, and so does a lock file it held
    with pytest.raises(RunFolderError):
        folder_claims.claim_folder(tmp_path / "mine", "train")
    assert os_module.listdir(tmp_path / "mine") == [".adaptgraph.lock"]


def test_a_full_disk_inside_safetensors_during_a_merge_is_a_user_error_naming_the_folder(tmp_path, monkeypatch,
                                                                                          capsys):
    transformers = pytest.importorskip("transformers")
    from safetensors import SafetensorError

    import adaptgraph
    from adaptgraph.cli import main

    bert = _tiny_bert(tmp_path / "bert")
    model = adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert}"\nparallel '
                                                "encoder.layer.0.attention.self.value { bias = false }\n"))
    adaptgraph.save_adapters(model, tmp_path / "a.safetensors")

    def full(self, *args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", full)
    assert main(["merge", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "merged")]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'merged'}: cannot write the merged model (the disk is full)" in err, err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".merged")] == []  # no stage left behind


# -- an adapter file's JSON metadata is parsed as strictly as a JSON file ------------------------------
@pytest.mark.parametrize("key, text", [
    ("head", '{"kind": "lm", "num_classes": 64, "num_classes": 8}'),
    ("head", '{"kind": "lm", "num_classes": Infinity}'),
    ("train_config", '{"lr": NaN}'),
])
def test_adapter_metadata_json_is_read_by_the_strict_parser(tmp_path, capsys, key, text):
    import adaptgraph
    from adaptgraph.cli import main
    from adaptgraph.errors import AdapterFileError
    from adaptgraph.compiler.adapter_files import read_adapter_file

    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:gpt-tiny"\nparallel @1 -> @2 { rank = 2 }\n'))
    path = tmp_path / "a.safetensors"
    adaptgraph.save_adapters(model, path, metadata={key: text})
    with pytest.raises(AdapterFileError, match=f"the metadata's '{key}' is not a JSON object"):
        read_adapter_file(path)
    assert main(["generate", str(path), "--prompt", "a", "--max-new-tokens", "1"]) == 1
    assert f"the metadata's '{key}' is not a JSON object" in capsys.readouterr().err


def test_a_jsonl_data_line_with_a_key_twice_is_refused_naming_the_line(tmp_path):
    from adaptgraph.errors import TaskError
    from adaptgraph.tasks import load_task

    data = tmp_path / "d.jsonl"
    data.write_text('{"t": "a cat", "l": "x"}\n{"t": "a dog", "l": "y", "l": "x"}\n')
    with pytest.raises(TaskError, match=r"d.jsonl:2: not valid JSON \(the key 'l' appears twice in one object\)"):
        load_task(f"jsonl:{data}?text=t&label=l")


# -- a link planted in a folder adaptgraph made, later reused (--resume, --overwrite, a rerun) --------------
@pytest.mark.parametrize("kind", ["train", "search", "score"])
def test_a_link_planted_in_an_adaptgraph_folder_is_refused_when_the_folder_is_reused(tmp_path, kind):
    from adaptgraph.errors import RunFolderError
    from adaptgraph.fileio.folder_claims import claim_folder

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    with claim_folder(tmp_path / "run", kind):
        (tmp_path / "run" / "best.safetensors").write_bytes(b"x")
    (tmp_path / "run" / "metrics.json").symlink_to(victim)  # planted after the run finished
    with pytest.raises(RunFolderError, match="metrics.json: refusing a run folder that holds a symbolic link"):
        claim_folder(tmp_path / "run", kind)
    assert victim.read_text() == "precious"
    (tmp_path / "run" / "metrics.json").unlink()
    claim_folder(tmp_path / "run", kind).release()  # plain files of its own: reused as before


# -- the Python API's search: a seed that is not a whole number is the project's error, named ------------
@pytest.mark.parametrize("kwargs, field", [
    ({"seed": 1.5}, "seed"), ({"seed": True}, "seed"), ({"seed": -1}, "seed"), ({"task_seed": "3"}, "task_seed"),
    ({"threads": 2.0}, "threads"),
])
def test_search_refuses_a_seed_that_is_not_a_whole_number_naming_the_parameter(tmp_path, kwargs, field):
    from adaptgraph.errors import SearchError
    from adaptgraph.searcher import search_config

    with pytest.raises(SearchError) as e:  # before anything runs: the config is checked when it is built
        search_config(**kwargs)
    assert f"{field}: " in str(e.value)


# -- the Python API's fit, generate and load_task: a wrong type is an ArgumentError naming the parameter ----
def test_fit_generate_and_load_task_name_the_parameter_of_the_wrong_type(tmp_path):
    import adaptgraph
    from adaptgraph.backbones import get_backbone
    from adaptgraph.errors import ArgumentError
    from adaptgraph.tasks import load_task
    from adaptgraph.train import TrainConfig, fit

    bb = get_backbone("zoo:vit-tiny")
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:vit-tiny"\n'), bb)
    task = load_task("digits?per_class=6")
    for call, message in [
        (lambda: fit(model, bb, task, {"steps": 1}), "config must be a TrainConfig (or None), not dict"),
        (lambda: fit(None, bb, task, TrainConfig(steps=1)), "model must be a compiled model"),
        (lambda: fit(model, bb, task, TrainConfig(steps=1), out=5), "out must be a path"),
        (lambda: load_task("digits?per_class=6", seed=1.5), "seed must be a whole number (int), not float 1.5"),
        (lambda: load_task("digits?per_class=6", seed=-1), "seed must be from 0 to 2**63 - 1, not -1"),
        (lambda: adaptgraph.generate(adaptgraph.compile(adaptgraph.loads('backbone "zoo:gpt-tiny"\n')), None),
         "prompts must be a string, a list of strings or lists of token ids, not NoneType"),
    ]:
        with pytest.raises(ArgumentError) as e:
            call()
        assert message in str(e.value), str(e.value)
