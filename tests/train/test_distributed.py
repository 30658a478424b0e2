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


# Tolerances. One and two processes differ only in the order the per-example gradients are
# summed (all-reduce of two partial sums vs one sum), an O(n * eps) relative error per step that
# 28 optimiser steps amplify. In float32 that reached 2.8e-5 on weights of scale 0.66 on one CPU
# and stayed under 1e-5 on another, so a float32 bound would be a guess about the CPU. The worker
# therefore trains in float64 (eps 2.2e-16): measured differences are about 3e-16, and even the
# float32 amplification (2.8e-5 / 1.2e-7, about 240x) keeps them under 1e-13. The bounds below
# (1e-10 absolute, 1e-9 relative) leave that a wide margin, while a real DDP fault (wrong
# averaging, a dropped or duplicated example) moves weights and losses by 1e-3 or more.
WEIGHT_ATOL, LOSS_REL = 1e-10, 1e-9


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
        assert one[split]["loss"] == pytest.approx(two[split]["loss"], rel=LOSS_REL)
    logs = [[json.loads(x) for x in (tmp_path / d / "log.jsonl").read_text().splitlines()] for d in ("one", "two")]
    assert [r["train_loss"] for r in logs[0]] == pytest.approx([r["train_loss"] for r in logs[1]], rel=LOSS_REL)
    a, b = (torch.load(tmp_path / d / "best_state.pt") for d in ("one", "two"))
    assert a.keys() == b.keys() and all(a[k].dtype == torch.float64 and torch.allclose(a[k], b[k], rtol=0, atol=WEIGHT_ATOL) for k in a)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [".adaptgraph.lock", "best_state.pt", "log.jsonl", "metrics.json"]
