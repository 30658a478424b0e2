"""`adaptgraph points` and `adaptgraph compile` as a user runs them."""
from __future__ import annotations

import json

from adaptgraph.cli import main

SPEC = 'spec demo\nbackbone "zoo:vit-tiny"\nparallel blocks.*.attn { rank = 4 }\nedge @1 -> @6\nrecurrent @8 -> @2\n'


def test_points_lists_stream_points(capsys):
    assert main(["points", "zoo:vit-tiny"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "zoo:vit-tiny (traced with fx)"
    assert [line.split()[0] for line in out[3:]] == [f"@{k}" for k in range(9)]
    assert out[3].split()[1] == "Bx17x64"


def test_points_json_with_ports(capsys):
    assert main(["points", "zoo:resnet-tiny", "--ports", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [p["name"] for p in data["points"]]
    assert "@0" in names and "layer1.0.conv1.out" in names
    assert {p["feature_dim"] for p in data["points"] if p["name"].startswith("layer")} == {1}


def test_compile_table_and_totals(tmp_path, capsys):
    spec = tmp_path / "demo.adapt"
    spec.write_text(SPEC)
    assert main(["compile", str(spec), "-o", str(tmp_path / "init.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "blocks_0_attn  parallel   blocks.0.attn.in -> blocks.0.attn.out  Bx17x64 -> Bx17x64  580" in out
    assert "s8__s2" in out and "recurrent" in out
    assert "trainable parameters: 4,512 (2.113% of the backbone's 213,568)" in out
    assert "forward passes: 2" in out
    assert (tmp_path / "init.safetensors").exists()


def test_compile_json(tmp_path, capsys):
    spec = tmp_path / "demo.adapt"
    spec.write_text(SPEC)
    assert main(["compile", str(spec), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["trainable_parameters"] == sum(e["parameters"] for e in r["edges"]) == 4512
    assert [e["kind"] for e in r["edges"]] == ["parallel"] * 4 + ["longrange", "recurrent"]


def test_compile_error_exit_code(tmp_path, capsys):
    spec = tmp_path / "bad.adapt"
    spec.write_text('backbone "zoo:vit-tiny"\nedge @1 -> @99\n')
    assert main(["compile", str(spec)]) == 1
    assert "bad.adapt:2:12: error: stream point @99 is out of range" in capsys.readouterr().err
