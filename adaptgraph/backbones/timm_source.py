"""``timm:NAME`` references: a timm model (random weights, seeded), where timm is installed.

The backbone's forward is timm's ``forward_features``: tokens after the final
norm for ViTs, the last feature map for conv nets. Weights are random (seeded
from the name) because these machines cannot download timm's pretrained files;
module paths are timm's own (``blocks.0.attn.qkv``), as with the zoo ViT.
"""
from __future__ import annotations

import functools

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.registry import LoadOptions, unknown_name_error
from adaptgraph.backbones.zoo.seeding import example_images, seeded
from adaptgraph.errors import BackboneError

TIMM_HINT = "pip install timm (it needs a torchvision that imports beside your torch)"


def load_timm(name: str, options: LoadOptions) -> Backbone:
    """Create timm model ``name`` without its classifier; forward returns ``forward_features``."""
    timm = _import_timm(f"timm:{name}")
    known = timm.list_models()
    if name not in known:
        raise unknown_name_error(f"timm:{name}", [f"timm:{n}" for n in known],
                                 fallback="timm.list_models() lists the names")
    with seeded(f"timm:{name}"):
        model = timm.create_model(name, pretrained=False, num_classes=0).eval()
    model.__class__ = _features_class(type(model))
    shape = tuple(getattr(model, "pretrained_cfg", {}).get("input_size", (3, 224, 224)))
    return Backbone(ref=f"timm:{name}", module=model, example_inputs=example_images(f"timm:{name}", shape),
                    modality="image", tokenizer=None, input_names=("pixels",), image_shape=shape,
                    frontend="fx")


def _import_timm(ref: str):
    try:
        import timm
    except ImportError:
        raise BackboneError(f"{ref} needs the timm package, which is not installed",
                            hint=TIMM_HINT) from None
    except Exception as exc:  # e.g. torchvision built for another torch: "operator ... does not exist"
        raise BackboneError(f"{ref} needs the timm package, which does not import: "
                            f"{type(exc).__name__}: {exc}", hint=TIMM_HINT) from exc
    return timm


@functools.lru_cache(maxsize=None)
def _features_class(base: type) -> type:
    """A subclass of ``base`` whose forward is ``forward_features`` (paths stay timm's own)."""
    def forward(self, pixels):
        return base.forward_features(self, pixels)

    return type(base.__name__ + "Features", (base,), {"forward": forward, "__module__": base.__module__})
