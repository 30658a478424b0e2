"""Compiled models pickle (torch.save / copy via pickle) on every small zoo backbone and give the
same outputs: the zoo is written under ``from __future__ import annotations``, whose string
annotations fx kept on placeholders and pickling could not name."""
from __future__ import annotations

import io
import pickle

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import get_backbone

ZOO = ["zoo:bert-tiny", "zoo:gpt-tiny", "zoo:vit-tiny", "zoo:resnet-tiny", "zoo:convnext-tiny"]


@pytest.mark.parametrize("ref", ZOO)
def test_a_compiled_zoo_model_pickles_and_gives_the_same_outputs(ref):
    backbone = get_backbone(ref)
    model = adaptgraph.compile(adaptgraph.loads("edge @1 -> @2 { init = normal }"), backbone)
    inputs = backbone.example_inputs
    again = pickle.loads(pickle.dumps(model))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    with torch.no_grad():
        assert torch.equal(again(*inputs), model(*inputs))
