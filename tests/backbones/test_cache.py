"""``get_backbone``: one load per reference, loaded backbones and modules passed through."""
import pytest
import torch

from adaptgraph.backbones import Backbone, get_backbone
from adaptgraph.errors import SpecError


def test_a_reference_loads_once():
    assert get_backbone("zoo:bert-tiny") is get_backbone("zoo:bert-tiny")


def test_a_loaded_backbone_is_returned_as_is():
    bb = get_backbone("zoo:bert-tiny")
    assert get_backbone(bb) is bb


def test_a_module_is_wrapped_on_each_call():
    module = torch.nn.Linear(3, 3)
    first = get_backbone(module, (torch.zeros(2, 3),))
    assert isinstance(first, Backbone) and first.module is module
    assert get_backbone(module, (torch.zeros(2, 3),)) is not first


def test_no_reference_says_how_to_name_one():
    with pytest.raises(SpecError, match="no backbone") as e:
        get_backbone(None)
    assert "--backbone REF" in str(e.value)
