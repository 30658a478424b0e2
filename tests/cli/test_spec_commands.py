"""`adaptgraph check | fmt | convert | schema`: exit codes, output shapes, atomic writes, debug tracebacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import adaptgraph.spec as S
from adaptgraph.cli import main
from adaptgraph.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
VALID = "spec tiny\nbackbone \"zoo:vit-tiny\"\n\nfor i in 0..1 {\n  parallel blocks.{i}.attn\n}\n"
MESSY = "spec   tiny ; backbone \"zoo:vit-tiny\"\nfor i in 0..1 { parallel blocks.{ i }.attn }  # two adapters\n"
INVALID = "edge @1 -> @2 { rank = 0 }\n"
MESSY_FMT = VALID.replace("}\n", "}  # two adapters\n")  # fmt keeps the comment with its statement


@pytest.fixture
def files(tmp_path):
    """A canonical spec, the same spec written messily, and an invalid one."""
    paths = {"valid": tmp_path / "tiny.adapt", "messy": tmp_path / "messy.adapt", "invalid": tmp_path / "bad.adapt"}
    paths["valid"].write_text(VALID, encoding="utf-8")
    paths["messy"].write_text(MESSY, encoding="utf-8")
    paths["invalid"].write_text(INVALID, encoding="utf-8")
    return paths


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# -- check -----------------------------------------------------------------------

def test_check_prints_one_line_per_valid_file_and_exits_0(capsys, files):
    code, out, err = _run(capsys, "check", str(files["valid"]), str(files["messy"]))
    assert code == 0 and err == ""
    assert out.splitlines() == [
        f"ok    {files['valid']}: spec tiny, 2 edges, backbone zoo:vit-tiny",
        f"ok    {files['messy']}: spec tiny, 2 edges, backbone zoo:vit-tiny",
    ]


def test_check_reports_every_invalid_file_and_exits_1(capsys, files, tmp_path):
    other = tmp_path / "other.adapt"
    other.write_text("edge @1\n", encoding="utf-8")
    code, out, err = _run(capsys, "check", str(files["invalid"]), str(files["valid"]), str(other))
    assert code == 1
    assert out == f"ok    {files['valid']}: spec tiny, 2 edges, backbone zoo:vit-tiny\n"
    assert f"{files['invalid']}:1:17: error: rank = 0 is not allowed" in err
    assert f"{other}:1:8: error: unexpected end of line; expected '->'" in err
    assert err.endswith("2 of 3 files invalid\n")


def test_check_json_output_shape(capsys, files):
    code, out, err = _run(capsys, "check", "--json", str(files["valid"]), str(files["invalid"]))
    assert code == 1 and err == ""
    ok, bad = json.loads(out)
    assert ok == {"file": str(files["valid"]), "ok": True, "summary": "spec tiny, 2 edges, backbone zoo:vit-tiny",
                  "hash": S.load(files["valid"]).content_hash()}
    assert bad["file"] == str(files["invalid"]) and bad["ok"] is False
    assert bad["errors"] == [{"message": "rank = 0 is not allowed; rank is an integer from 1 to 1000000",
                              "path": "edges[0].options.rank", "hint": "", "file": str(files["invalid"]),
                              "line": 1, "col": 17}]


def test_check_accepts_yaml_and_json_files(capsys, files, tmp_path):
    spec = S.load(files["valid"])
    (tmp_path / "tiny.adapt.yaml").write_text(S.dumps(spec, format="yaml"), encoding="utf-8")
    (tmp_path / "tiny.json").write_text(S.dumps(spec, format="json"), encoding="utf-8")
    code, out, _ = _run(capsys, "check", str(tmp_path / "tiny.adapt.yaml"), str(tmp_path / "tiny.json"))
    assert code == 0 and out.count("spec tiny, 2 edges") == 2


def test_every_example_spec_passes_check(capsys):
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.adapt"))
    code, out, err = _run(capsys, "check", *specs)
    assert code == 0, err
    assert len(out.splitlines()) == len(specs) >= 5


# -- usage errors ------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["check"],
    ["fmt"],
    ["frobnicate", "x.adapt"],
    ["fmt", "--check", "--write", "x.adapt"],
    ["convert", "x.adapt"],
    ["convert", "x.adapt", "--to", "xml"],
    ["check", "--no-such-flag", "x.adapt"],
])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_convert_refuses_an_output_suffix_that_names_another_format(capsys, files, tmp_path):
    code, _, err = _run(capsys, "convert", str(files["valid"]), "--to", "yaml", "-o", str(tmp_path / "out.json"))
    assert code == 2
    assert err.startswith("error: --to yaml does not match the output file")
    assert not (tmp_path / "out.json").exists()


# -- fmt -----------------------------------------------------------------------------

def test_fmt_prints_the_canonical_form(capsys, files):
    code, out, _ = _run(capsys, "fmt", str(files["messy"]))
    assert code == 0 and out == MESSY_FMT


def test_fmt_check_exits_1_for_non_canonical_files_only(capsys, files, tmp_path):
    assert _run(capsys, "fmt", "--check", str(files["valid"])) == (0, "", "")
    code, out, _ = _run(capsys, "fmt", "--check", str(files["valid"]), str(files["messy"]))
    assert code == 1 and out == f"would reformat {files['messy']}\n"
    assert files["messy"].read_text(encoding="utf-8") == MESSY  # --check never writes


@pytest.mark.parametrize("raw", [VALID.replace("\n", "\r\n").encode(), b"\xef\xbb\xbf" + VALID.encode()],
                         ids=["crlf", "bom"])
def test_fmt_check_compares_bytes(capsys, tmp_path, raw):
    path = tmp_path / "tiny.adapt"
    path.write_bytes(raw)
    assert _run(capsys, "fmt", "--check", str(path))[0] == 1
    assert _run(capsys, "fmt", "--write", str(path))[0] == 0
    assert path.read_bytes() == VALID.encode()


def test_fmt_write_is_atomic_and_leaves_canonical_files_alone(capsys, files):
    folder = files["messy"].parent
    before = {p.name for p in folder.iterdir()}
    mtime = files["valid"].stat().st_mtime_ns
    code, out, _ = _run(capsys, "fmt", "--write", str(files["messy"]), str(files["valid"]))
    assert code == 0 and out == f"reformatted {files['messy']}\n"
    assert files["messy"].read_text(encoding="utf-8") == MESSY_FMT
    assert files["valid"].stat().st_mtime_ns == mtime
    assert {p.name for p in folder.iterdir()} == before  # no temporary file left behind
    assert _run(capsys, "fmt", "--write", str(files["messy"])) == (0, "", "")


def test_fmt_expand_unrolls_loops(capsys, files):
    code, out, _ = _run(capsys, "fmt", "--expand", str(files["valid"]))
    assert code == 0
    assert out == 'spec tiny\nbackbone "zoo:vit-tiny"\n\nparallel blocks.0.attn\nparallel blocks.1.attn\n'
    assert _run(capsys, "fmt", "--expand", "--check", str(files["valid"]))[0] == 1


def test_fmt_keeps_the_format_of_yaml_files(capsys, files, tmp_path):
    path = tmp_path / "tiny.adapt.yaml"
    path.write_text("name: tiny\nbackbone: 'zoo:vit-tiny'\nedges: []\n", encoding="utf-8")
    code, out, _ = _run(capsys, "fmt", str(path))
    assert code == 0 and out == "name: tiny\nbackbone: zoo:vit-tiny\n"


def test_fmt_reports_invalid_files_and_exits_1(capsys, files):
    code, out, err = _run(capsys, "fmt", str(files["invalid"]), str(files["valid"]))
    assert code == 1
    assert out == VALID  # the valid file is still printed
    assert err.startswith(f"{files['invalid']}:1:17: error: rank = 0 is not allowed")


# -- convert and schema ------------------------------------------------------------------

def test_convert_round_trips_through_yaml_and_json(capsys, files, tmp_path):
    spec = S.load(files["messy"])
    yaml_path, json_path, back = tmp_path / "t.adapt.yaml", tmp_path / "t.json", tmp_path / "back.adapt"
    assert _run(capsys, "convert", str(files["messy"]), "--to", "yaml", "-o", str(yaml_path)) == (0, "", "")
    assert "# two adapters\n" in yaml_path.read_text(encoding="utf-8")
    assert _run(capsys, "convert", str(yaml_path), "--to", "json", "-o", str(json_path)) == (
        0, "", f"note: JSON has no comments: the 1 comment of {yaml_path} is not in the output "
               "(convert to .adapt.yaml to keep them)\n")
    code, out, _ = _run(capsys, "convert", str(json_path), "--to", "adapt")
    assert code == 0 and out == VALID
    assert S.load(yaml_path) == S.load(json_path) == spec
    assert _run(capsys, "convert", str(json_path), "--to", "adapt", "-o", str(back))[0] == 0
    assert back.read_text(encoding="utf-8") == VALID
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["tiny.adapt", "messy.adapt", "bad.adapt", "t.adapt.yaml", "t.json", "back.adapt"])


def test_convert_expand(capsys, files):
    code, out, _ = _run(capsys, "convert", str(files["valid"]), "--to", "json", "--expand")
    assert code == 0
    assert [e["src"] for e in json.loads(out)["edges"]] == ["blocks.0.attn.in", "blocks.1.attn.in"]


def test_convert_of_an_invalid_file_exits_1(capsys, files, tmp_path):
    code, _, err = _run(capsys, "convert", str(files["invalid"]), "--to", "json", "-o", str(tmp_path / "o.json"))
    assert code == 1 and "rank = 0 is not allowed" in err
    assert not (tmp_path / "o.json").exists()


def test_schema_is_the_json_schema_of_the_data_form(capsys):
    code, out, _ = _run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "Spec" and schema["additionalProperties"] is False
    assert {"name", "backbone", "defaults", "templates", "edges", "train", "stream", "passes"} == set(
        schema["properties"])


# -- tracebacks --------------------------------------------------------------------------

def test_debug_variable_shows_tracebacks_in_process(capsys, files, monkeypatch):
    monkeypatch.setenv("ADAPTGRAPH_DEBUG", "1")
    code, _, err = _run(capsys, "check", str(files["invalid"]))  # check reports, and shows where from
    assert code == 1 and "Traceback (most recent call last)" in err and "rank = 0 is not allowed" in err
    with pytest.raises(SpecError):
        main(["fmt", str(files["invalid"])])  # other commands let the error reach the interpreter


@pytest.mark.parametrize("value", [None, "0", "false", "off", ""])
def test_without_the_debug_variable_no_traceback_is_shown(capsys, files, monkeypatch, value):
    """ADAPTGRAPH_DEBUG=0 (or false, off, empty) is off: any value used to turn tracebacks on."""
    if value is None:
        monkeypatch.delenv("ADAPTGRAPH_DEBUG", raising=False)
    else:
        monkeypatch.setenv("ADAPTGRAPH_DEBUG", value)
    for command in ("check", "fmt", "convert"):
        argv = [command, str(files["invalid"])] + (["--to", "json"] if command == "convert" else [])
        code, out, err = _run(capsys, *argv)
        assert code == 1 and "rank = 0 is not allowed" in err
        assert "Traceback" not in out + err


def test_the_real_entry_point_with_and_without_the_debug_variable(files):
    env = {k: v for k, v in os.environ.items() if k != "ADAPTGRAPH_DEBUG"}
    argv = [sys.executable, "-m", "adaptgraph", "fmt", str(files["invalid"])]
    plain = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 1 and "rank = 0 is not allowed" in plain.stderr
    assert "Traceback" not in plain.stderr + plain.stdout
    debug = subprocess.run(argv, capture_output=True, text=True, env={**env, "ADAPTGRAPH_DEBUG": "1"}, timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "SpecError" in debug.stderr


def test_an_internal_error_is_reported_without_a_traceback(capsys, files, monkeypatch):
    import adaptgraph.cli.commands.spec_commands as commands

    monkeypatch.delenv("ADAPTGRAPH_DEBUG", raising=False)
    monkeypatch.setattr(commands, "load", lambda path: 1 / 0)
    code, _, err = _run(capsys, "check", str(files["valid"]))
    assert code == 3
    assert err.startswith("internal error: ZeroDivisionError") and "Traceback" not in err


def test_check_says_when_globs_make_the_edge_count_unknown(tmp_path, capsys):
    spec = tmp_path / "g.adapt"
    spec.write_text('backbone "zoo:vit-tiny"\nparallel blocks.*.attn\nedge @1 -> @2\n')
    assert main(["check", str(spec)]) == 0
    assert capsys.readouterr().out == (f"ok    {spec}: spec g, 2 edge statements, 1 with globs (one edge per matching "
                                       "module; `adaptgraph compile` lists them), backbone zoo:vit-tiny\n")


def test_fmt_write_keeps_the_comments_of_adapt_and_yaml_files(capsys, tmp_path):
    adapt = tmp_path / "c.adapt"
    adapt.write_text("# head\nparallel m   # why\ndefaults {rank=2,  # narrow\n}\n", encoding="utf-8")
    assert _run(capsys, "fmt", "--write", str(adapt)) == (0, f"reformatted {adapt}\n", "")
    assert adapt.read_text(encoding="utf-8") == (
        "# head\nspec c\n\ndefaults {\n  rank = 2  # narrow\n}\n\nparallel m  # why\n")
    assert _run(capsys, "fmt", "--check", str(adapt))[0] == 0  # the output is canonical
    yaml_path = tmp_path / "c.adapt.yaml"
    yaml_path.write_text("# head\nedges:\n  # the one edge\n  - {src: '@1', dst: '@2'}  # why\n", encoding="utf-8")
    assert _run(capsys, "fmt", "--write", str(yaml_path))[0] == 0
    text = yaml_path.read_text(encoding="utf-8")
    assert text == "# head\nedges:\n# the one edge\n# why\n- src: '@1'\n  dst: '@2'\n"
    assert _run(capsys, "fmt", "--check", str(yaml_path))[0] == 0
