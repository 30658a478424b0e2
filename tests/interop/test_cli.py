"""adaptgraph export / import / merge on the command line: results, exit codes, messages without tracebacks."""
import json

import pytest

import adaptgraph
from adaptgraph.cli import main
from adaptgraph.compiler.adapter_files import save_adapters
from tiny_hf import perturb

pytest.importorskip("peft", reason="the PEFT commands are tested with peft installed (the dev extra)")
pytestmark = pytest.mark.hf


@pytest.fixture()
def saved(tmp_path, bert_dir):
    def make(body):
        model = perturb(adaptgraph.compile(adaptgraph.loads(f'backbone "hf:{bert_dir}"\n' + body)))
        save_adapters(model, tmp_path / "a.safetensors")
        return str(tmp_path / "a.safetensors")
    return make


def test_export_import_merge_round_trip(tmp_path, saved, capsys):
    source = saved("defaults { bias = false, rank = 2 }\nparallel encoder.layer.*.attention.self.value\n")
    assert main(["export", source, "--format", "peft", "--out", str(tmp_path / "peft"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["targets"] == ["encoder.layer.0.attention.self.value",
                                                             "encoder.layer.1.attention.self.value"]
    assert main(["import", str(tmp_path / "peft"), "--out", str(tmp_path / "imported")]) == 0
    assert "2 LoRA modules" in capsys.readouterr().out
    assert main(["merge", str(tmp_path / "imported"), "--out", str(tmp_path / "merged")]) == 0
    assert capsys.readouterr().out.startswith(f"merged 2 edges into {tmp_path / 'merged'}")


def test_merge_in_a_log_writes_plain_lines_and_nothing_with_no_progress(tmp_path, saved, capsys):
    """Regression: transformers' "Writing model shards" bar put carriage returns in the log, even with --no-progress."""
    source = saved("defaults { bias = false, rank = 2 }\nparallel encoder.layer.*.attention.self.value\n")
    assert main(["merge", source, "--out", str(tmp_path / "merged")]) == 0
    err = capsys.readouterr().err  # captured stderr is not a terminal: a log
    assert "\r" not in err and "Writing model shards" not in err
    assert err.splitlines()[-1].startswith(f"merge: saving to {tmp_path / 'merged'}: ")
    assert main(["merge", source, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_refusals_are_messages_with_exit_1(tmp_path, saved, capsys):
    source = saved("edge @1 -> @3\n")
    assert main(["export", source, "--format", "peft", "--out", str(tmp_path / "peft")]) == 1
    err = capsys.readouterr().err
    assert "s1__s3: it is a longrange edge @1 -> @3" in err and "Traceback" not in err
    assert main(["merge", source, "--out", str(tmp_path / "merged")]) == 1
    assert "hint: pass --keep-unmerged" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    assert "cannot read adapter_config.json" in capsys.readouterr().err


def test_export_needs_a_format(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["export", "a.safetensors", "--out", "x"])
    assert exited.value.code == 2 and "--format" in capsys.readouterr().err
