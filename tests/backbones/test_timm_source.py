"""timm:NAME. timm is not installed on the project's machines, so the real-timm test skips;
the loader's own logic runs against a stand-in module with timm's API."""
import sys
import types

import pytest
import torch

from adaptgraph.backbones import load_backbone
from adaptgraph.backbones.zoo.vit import ViTConfig, VisionTransformer
from adaptgraph.errors import BackboneError


class FakeTimmViT(VisionTransformer):
    """The zoo ViT with timm's forward_features/forward split and pretrained_cfg."""

    pretrained_cfg = {"input_size": (3, 32, 32)}

    def forward_features(self, pixels):
        return VisionTransformer.forward(self, pixels)

    def forward(self, pixels):
        return self.forward_features(pixels)[:, 0]  # pooled, as timm's forward_head would


@pytest.fixture
def fake_timm(monkeypatch):
    module = types.ModuleType("timm")
    module.list_models = lambda: ["vit_tiny_patch16_224", "resnet18"]
    module.create_model = lambda name, pretrained, num_classes: FakeTimmViT(ViTConfig())
    monkeypatch.setitem(sys.modules, "timm", module)
    return module


def test_loads_forward_features_with_timm_paths(fake_timm):
    backbone = load_backbone("timm:vit_tiny_patch16_224")
    assert (backbone.ref, backbone.modality, backbone.image_shape, backbone.frontend) == (
        "timm:vit_tiny_patch16_224", "image", (3, 32, 32), "fx")
    assert isinstance(backbone.module, FakeTimmViT) and not backbone.module.training
    assert "blocks.0.attn.qkv" in dict(backbone.module.named_modules())
    assert backbone.module(*backbone.example_inputs).shape == (2, 17, 64)  # tokens, not pooled


def test_same_weights_on_every_load(fake_timm):
    a, b = (load_backbone("timm:vit_tiny_patch16_224").module.state_dict() for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_timm_name(fake_timm):
    with pytest.raises(BackboneError) as err:
        load_backbone("timm:vit_tiny_patch16")
    assert str(err.value) == ("error: unknown backbone 'timm:vit_tiny_patch16'\n"
                              "    hint: did you mean 'timm:vit_tiny_patch16_224'?")
    with pytest.raises(BackboneError) as err:
        load_backbone("timm:zzz")
    assert str(err.value) == "error: unknown backbone 'timm:zzz'\n    hint: timm.list_models() lists the names"


def test_missing_timm(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(BackboneError) as err:
        load_backbone("timm:vit_tiny_patch16_224")
    assert str(err.value) == ("error: timm:vit_tiny_patch16_224 needs the timm package, which is not installed\n"
                              "    hint: pip install timm (it needs a torchvision that imports beside your torch)")


def test_timm_that_does_not_import(monkeypatch):
    """What timm does beside an incompatible torchvision: the import itself raises RuntimeError."""
    monkeypatch.delitem(sys.modules, "timm", raising=False)
    finder = types.SimpleNamespace(find_spec=lambda name, path=None, target=None: _raise() if name == "timm" else None)
    monkeypatch.setattr(sys, "meta_path", [finder] + sys.meta_path)
    with pytest.raises(BackboneError) as err:
        load_backbone("timm:x")
    assert str(err.value) == ("error: timm:x needs the timm package, which does not import: "
                              "RuntimeError: operator torchvision::nms does not exist\n"
                              "    hint: pip install timm (it needs a torchvision that imports beside your torch)")


def _raise():
    raise RuntimeError("operator torchvision::nms does not exist")


def test_real_timm_vit():
    timm = pytest.importorskip("timm", reason="timm is not installed (it needs torch 2.14.1 with torchvision)")
    backbone = load_backbone("timm:vit_tiny_patch16_224")
    assert backbone.module(*backbone.example_inputs).shape == (2, 197, 192)
    assert isinstance(backbone.module, timm.models.VisionTransformer)
