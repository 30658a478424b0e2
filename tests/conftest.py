"""Suite-wide settings."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tests run torch on one thread: tiny models run far faster than on two contended threads, and
    `pytest -n 2` runs two tests at once on this project's 2-core machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
