"""Backbones: what adapters are compiled against (language.md section 6).

``load_backbone("zoo:vit-tiny")``, ``load_backbone("hf:minilm")``,
``load_backbone(module, example_inputs=(x,))``. Each reference scheme is one
``register_scheme`` call below; a new source is one loader function plus one line.
"""
from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.cache import get_backbone
from adaptgraph.backbones.registry import (LoadOptions, backbone_refs, load_backbone,
                                           register_scheme, schemes)
from adaptgraph.backbones.hf_source import hf_refs, load_hf
from adaptgraph.backbones.python_source import load_python
from adaptgraph.backbones.timm_source import load_timm
from adaptgraph.backbones.zoo.catalog import load_zoo, zoo_refs

register_scheme("zoo", load_zoo, refs=zoo_refs)
register_scheme("hf", load_hf, refs=hf_refs)
register_scheme("timm", load_timm)
register_scheme("py", load_python)

__all__ = ["Backbone", "LoadOptions", "get_backbone", "load_backbone", "register_scheme", "schemes"]
