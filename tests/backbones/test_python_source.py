"""py:MODULE:FACTORY: refused without trust, works with it, exact errors."""
import itertools
import sys
import textwrap

import pytest
import torch

from adaptgraph.backbones import load_backbone
from adaptgraph.errors import BackboneError

FACTORY_SOURCE = '''
import torch
from torch import nn

CALLS = []
example_inputs = (torch.ones(2, 3, 8, 8),)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, pixels):
        return torch.relu(self.conv(pixels))


def build():
    CALLS.append("build")
    return Net()


def build_tuple_net():
    return nn.LSTM(3, 4)


def not_a_module():
    return 3


def broken():
    raise RuntimeError("out of cheese")
'''
_counter = itertools.count()


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """A fresh importable module (unique name, so imports never come from an earlier test)."""
    name = f"adaptgraph_test_factory_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORY_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _message(ref, **kwargs):
    with pytest.raises(BackboneError) as err:
        load_backbone(ref, **kwargs)
    return str(err.value)


def test_refused_without_trust_and_nothing_runs(factory_module):
    assert _message(f"py:{factory_module}:build") == (
        f"error: backbone py:{factory_module}:build runs Python code (it imports {factory_module} "
        f"and calls build()), so it is refused without trust\n"
        f"    hint: if you trust this code, pass --trust-code on the command line or trust_code=True in Python")
    assert factory_module not in sys.modules


def test_works_with_trust(factory_module):
    backbone = load_backbone(f"py:{factory_module}:build", trust_code=True)
    assert sys.modules[factory_module].CALLS == ["build"]
    assert (backbone.ref, backbone.modality, backbone.frontend) == (f"py:{factory_module}:build", "image", "auto")
    assert backbone.input_names == ("pixels",) and backbone.image_shape == (3, 8, 8)
    assert not backbone.module.training
    assert backbone.module(*backbone.example_inputs).shape == (2, 4, 6, 6)


def test_callers_example_inputs_win(factory_module):
    mine = (torch.zeros(2, 3, 5, 5),)
    backbone = load_backbone(f"py:{factory_module}:build", trust_code=True, example_inputs=mine)
    assert backbone.example_inputs is mine and backbone.image_shape == (3, 5, 5)


def test_example_inputs_may_be_a_function(factory_module, monkeypatch):
    module = __import__(factory_module)
    monkeypatch.setattr(module, "example_inputs", lambda: torch.ones(2, 3, 6, 6))
    assert load_backbone(f"py:{factory_module}:build", trust_code=True).example_inputs[0].shape == (2, 3, 6, 6)


def test_no_example_inputs(factory_module, monkeypatch):
    monkeypatch.delattr(__import__(factory_module), "example_inputs")
    assert _message(f"py:{factory_module}:build", trust_code=True) == (
        f"error: backbone py:{factory_module}:build has no example inputs\n"
        f"    hint: define example_inputs = (tensor, ...) in module {factory_module}, "
        f"or pass example_inputs=... to load_backbone")


def test_malformed_reference():
    assert _message("py:just_a_module") == (
        "error: backbone reference 'py:just_a_module' does not name a module and a factory\n"
        "    hint: write py:MODULE:FACTORY, e.g. py:my_models:build_backbone")


def test_missing_module():
    assert _message("py:no_such_module_here:build", trust_code=True) == (
        "error: backbone py:no_such_module_here:build: no module named 'no_such_module_here'\n"
        "    hint: put its folder on PYTHONPATH, or install its package")


def test_missing_factory_suggests_closest(factory_module):
    assert _message(f"py:{factory_module}:biuld", trust_code=True) == (
        f"error: backbone py:{factory_module}:biuld: module '{factory_module}' has no function 'biuld'\n"
        f"    hint: did you mean 'build'?")


def test_factory_returning_something_else(factory_module):
    assert _message(f"py:{factory_module}:not_a_module", trust_code=True) == (
        f"error: backbone py:{factory_module}:not_a_module: not_a_module() returned int, "
        f"not a torch.nn.Module\n    hint: make the factory return the model")


def test_factory_raising(factory_module):
    assert _message(f"py:{factory_module}:broken", trust_code=True) == (
        f"error: backbone py:{factory_module}:broken failed while calling broken(): RuntimeError: out of cheese\n"
        f"    hint: fix the error in that code (the traceback above shows where)")


def test_module_returning_a_tuple_is_refused(factory_module):
    assert _message(f"py:{factory_module}:build_tuple_net", trust_code=True,
                    example_inputs=(torch.ones(2, 5, 3),)) == (
        f"error: backbone py:{factory_module}:build_tuple_net must return one feature tensor, "
        f"but forward() returned tuple\n"
        f"    hint: wrap the module so that forward() returns the hidden states (B, T, D) "
        f"or the feature map (B, C, H, W)")


def test_module_failing_at_import(tmp_path, monkeypatch):
    (tmp_path / "adaptgraph_test_bad_import.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        message = _message("py:adaptgraph_test_bad_import:build", trust_code=True)
    finally:
        sys.modules.pop("adaptgraph_test_bad_import", None)
    assert message == (
        "error: backbone py:adaptgraph_test_bad_import:build failed while importing adaptgraph_test_bad_import: "
        "ModuleNotFoundError: No module named 'no_such_dependency_xyz'\n"
        "    hint: fix the error in that code (the traceback above shows where)")
