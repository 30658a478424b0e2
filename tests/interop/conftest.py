import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_hf import save_bert, save_gpt2  # noqa: E402


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert")
    save_bert(folder)
    return folder


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    save_gpt2(folder)
    return folder
