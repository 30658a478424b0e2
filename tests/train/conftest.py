import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests import train_fixtures


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread (two threads spin against each other on a busy 2-core box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
