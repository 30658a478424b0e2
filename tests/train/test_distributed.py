import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_fixtures import synthetic_rows, write_csv

WORKER = Path(__file__).parent / "ddp_worker.py"
REPO = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_match_one(tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(40))
    run([sys.executable, str(WORKER), str(data), str(tmp_path / "one")], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(WORKER), str(data), str(tmp_path / "two")], tmp_path)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2
    for key in ("steps", "epochs", "best_epoch", "task_fingerprint", "trainable_parameters"):
        assert one[key] == two[key], key
    for split in ("validation", "test"):
        assert one[split]["n"] == two[split]["n"] and one[split]["accuracy"] == two[split]["accuracy"]
        assert one[split]["loss"] == pytest.approx(two[split]["loss"], rel=1e-5)
    logs = [[json.loads(x) for x in (tmp_path / d / "log.jsonl").read_text().splitlines()] for d in ("one", "two")]
    assert [r["train_loss"] for r in logs[0]] == pytest.approx([r["train_loss"] for r in logs[1]], rel=1e-5)
    a, b = (torch.load(tmp_path / d / "best_state.pt") for d in ("one", "two"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["best_state.pt", "log.jsonl", "metrics.json"]
