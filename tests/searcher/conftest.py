import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests (and spawned workers) import search_fixtures


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def task_file(tmp_path_factory):
    from search_fixtures import write_task

    return write_task(tmp_path_factory.mktemp("task") / "words.csv")
