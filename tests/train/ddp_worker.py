"""Trains the tiny text model on a CSV task; run alone or under torchrun by test_distributed.py.

Usage: python ddp_worker.py CSV OUT_DIR
"""
import faulthandler
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from train_fixtures import TEXT_BACKBONE, TinyTextModel  # noqa: E402

from adaptgraph.tasks import load_task  # noqa: E402
from adaptgraph.train import RunOutput, TrainConfig, fit  # noqa: E402

# 96 training examples in global batches of 7: the last batch (5) splits 3/2 over two ranks;
# evaluation batches of 11 leave one rank a weightless padding item in the last batch.
CONFIG = TrainConfig(epochs=2, lr=0.05, batch_size=7, eval_batch_size=11, device="cpu")


def main(csv_path: str, out_dir: str) -> None:
    faulthandler.enable()  # a native abort (see test_distributed.aborted_natively) prints where Python was
    torch.set_num_threads(1)
    # float64 so that the only difference between one and two processes, the order in which
    # gradients are summed, stays at the level of double rounding (see test_distributed.py)
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    model = TinyTextModel()
    task = load_task(f"csv:{csv_path}")
    fit(model, TEXT_BACKBONE, task, CONFIG, progress=False,
        out=RunOutput(out_dir, before_finish=lambda result, out: torch.save(result.best_state, out / "best_state.pt")))


if __name__ == "__main__":
    main(*sys.argv[1:3])
