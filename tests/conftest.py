"""Suite-wide settings."""
import os

import pytest
import torch

# No test reads or writes the user's trace cache (a cached graph would also skip the code paths a test
# patches); tests of the cache point ADAPTGRAPH_TRACE_CACHE at a tmp folder. Subprocesses inherit this.
os.environ["ADAPTGRAPH_TRACE_CACHE"] = "off"


@pytest.fixture(autouse=True)
def one_thread():
    """Tests run torch on one thread: tiny models run far faster than on two contended threads, and
    `pytest -n 2` runs two tests at once on this project's 2-core machines."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
