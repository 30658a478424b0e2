"""load_backbone(nn.Module, example_inputs=...): modality from dtype, names from the signature."""
import pytest
import torch
from torch import nn

from adaptgraph.backbones import load_backbone
from adaptgraph.errors import BackboneError


class TokenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)

    def forward(self, ids, mask):
        return self.embed(ids) * mask[..., None]


class StarNet(nn.Module):
    def forward(self, *tensors):
        return sum(tensors)


class Failing(nn.Module):
    def forward(self, x):
        raise ValueError("bad shape")


def test_integer_inputs_mean_text():
    ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    backbone = load_backbone(TokenNet(), example_inputs=(ids, (ids > 0).long()))
    assert (backbone.ref, backbone.modality, backbone.input_names) == ("module:TokenNet", "text", ("ids", "mask"))
    assert backbone.image_shape is None and backbone.tokenizer is None and backbone.frontend == "auto"


def test_float_inputs_mean_image_and_the_modules_mode_is_left_alone():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout())
    backbone = load_backbone(net, example_inputs=torch.ones(2, 3, 9, 9))
    assert backbone.module is net and net.training and all(m.training for m in net.modules())
    assert (backbone.modality, backbone.image_shape, backbone.input_names) == ("image", (3, 9, 9), ("input",))
    assert backbone.example_inputs[0].shape == (2, 3, 9, 9)


def test_star_args_are_numbered():
    backbone = load_backbone(StarNet(), example_inputs=[torch.ones(2, 4), torch.ones(2, 4)])
    assert backbone.input_names == ("input0", "input1") and backbone.image_shape is None


def test_example_inputs_are_required():
    with pytest.raises(BackboneError) as err:
        load_backbone(nn.Linear(2, 2))
    assert str(err.value) == (
        "error: backbone module:Linear has no example inputs\n"
        "    hint: pass example_inputs=(tensor, ...) with a batch of 2, e.g. (torch.randn(2, 3, 32, 32),)")


def test_first_input_must_be_a_tensor():
    with pytest.raises(BackboneError) as err:
        load_backbone(nn.Linear(2, 2), example_inputs=(3,))
    assert str(err.value) == (
        "error: the first example input of backbone module:Linear must be a tensor, not int\n"
        "    hint: pass example_inputs=(tensor, ...) with a batch of 2, e.g. (torch.randn(2, 3, 32, 32),)")


def test_forward_failure_is_reported():
    with pytest.raises(BackboneError) as err:
        load_backbone(Failing(), example_inputs=(torch.ones(2, 2),))
    assert str(err.value) == ("error: backbone module:Failing failed on its example inputs: ValueError: bad shape\n"
                              "    hint: check that example_inputs match forward()'s arguments")
