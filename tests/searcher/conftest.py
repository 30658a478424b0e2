import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # lets the tests (and spawned workers) import search_fixtures


@pytest.fixture(scope="session")
def task_file(tmp_path_factory):
    from search_fixtures import write_task

    return write_task(tmp_path_factory.mktemp("task") / "words.csv")
