"""Warm compiles from a backbone snapshot: no transformers import, the same compiled model as a cold compile,
and the trace cache's safety rules (private folder, owner, no links) and staleness checks hold for snapshots."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adaptgraph.graph import backbone_snapshot as snap
from adaptgraph.graph import trace_cache as tc

transformers = pytest.importorskip("transformers")
ROOT = Path(__file__).resolve().parents[2]
SPEC = "spec s\nedge @0 -> @2 { rank = 3, init = normal }\nparallel @1 -> @2\n"

# Compiles SPEC (argv[1]) the way `adaptgraph compile` does, then reports what it used and computed.
SCRIPT = """
import json, sys, torch
from adaptgraph.graph.backbone_snapshot import load_snapshot, store_snapshot
from adaptgraph.compiler import compile
from adaptgraph.spec import load
spec = load(sys.argv[1])
hit = load_snapshot(spec.backbone)
model = compile(spec, hit or spec.backbone)
if hit is None:
    store_snapshot(spec.backbone)
ids = torch.tensor([[2, 5, 7, 9, 3, 0], [2, 6, 8, 3, 0, 0]])
with torch.no_grad():
    out = model(ids, (ids > 0).long())
torch.save(out, sys.argv[2])
print(json.dumps({"hit": hit is not None, "transformers": "transformers" in sys.modules}))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(path)
    return path


@pytest.fixture
def spec(tmp_path, folder, monkeypatch):
    monkeypatch.setenv(tc.ENV, str(tmp_path / "traces"))
    path = tmp_path / "s.adapt"
    path.write_text(SPEC.replace("spec s\n", f'spec s\nbackbone "hf:{folder}"\n'))
    return path


def _compile_in_subprocess(spec: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(spec), str(out)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_warm_compile_imports_no_transformers_and_computes_the_same(spec, tmp_path):
    cold = _compile_in_subprocess(spec, tmp_path / "cold.pt")
    warm = _compile_in_subprocess(spec, tmp_path / "warm.pt")
    assert cold == {"hit": False, "transformers": True}
    assert warm == {"hit": True, "transformers": False}
    assert torch.equal(torch.load(tmp_path / "warm.pt"), torch.load(tmp_path / "cold.pt"))


def _stored(spec_path: Path, folder: Path) -> tuple[str, Path]:
    from adaptgraph.compiler import compile

    ref = f"hf:{folder}"
    compile(spec_path, ref)
    assert snap.store_snapshot(ref)
    entries = list(tc.cache_dir().glob("*.snapshot"))
    assert len(entries) == 1
    return ref, entries[0]


def test_cli_report_and_adapters_are_the_same_warm(spec, tmp_path, capsys):
    from adaptgraph.cli import main
    from adaptgraph.compiler.adapter_files import read_adapter_file

    reports, adapters = [], []
    for name in ("cold", "warm"):
        out = tmp_path / f"{name}.safetensors"
        assert main(["compile", str(spec), "--json", "-o", str(out)]) == 0
        reports.append(json.loads(capsys.readouterr().out))
        adapters.append(read_adapter_file(out))
        assert len(list(tc.cache_dir().glob("*.snapshot"))) == 1  # written by the cold run, read by the warm one
    assert reports[0] == reports[1] and reports[0]["backbone_parameters"] > 0
    assert adapters[0].metadata == adapters[1].metadata  # the backbone's fingerprint too, from the snapshot
    assert adapters[0].tensors.keys() == adapters[1].tensors.keys()
    assert all(torch.equal(adapters[0].tensors[k], adapters[1].tensors[k]) for k in adapters[0].tensors)


def test_snapshot_others_could_write_or_a_link_is_not_read(spec, folder):
    ref, entry = _stored(spec, folder)
    assert snap.load_snapshot(ref) is not None
    entry.chmod(0o666)
    assert snap.load_snapshot(ref) is None
    entry.chmod(0o600)
    entry.parent.chmod(0o777)
    assert snap.load_snapshot(ref) is None
    entry.parent.chmod(0o700)
    moved = entry.with_suffix(".real")
    entry.rename(moved)
    entry.symlink_to(moved)
    assert snap.load_snapshot(ref) is None


def test_a_changed_model_folder_or_a_corrupt_snapshot_is_a_miss(spec, folder):
    ref, entry = _stored(spec, folder)
    entry.write_bytes(b"not a pickle")
    assert snap.load_snapshot(ref) is None
    ref, entry = _stored(spec, folder)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
    assert snap.load_snapshot(ref) is None
    assert snap.load_snapshot(ref, frontend="fx") is None  # another frontend, another key


def test_other_backbones_have_no_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv(tc.ENV, str(tmp_path / "traces"))
    assert snap.snapshot_key("zoo:bert-tiny", None, False) is None
    monkeypatch.setenv(tc.ENV, "off")
    assert snap.snapshot_key("hf:minilm", None, False) is None
