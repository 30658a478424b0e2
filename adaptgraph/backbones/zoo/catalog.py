"""The zoo: small randomly initialised architectures, the same weights on every load."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.hash_tokenizer import HashTokenizer
from adaptgraph.backbones.module_source import forward_argument_names
from adaptgraph.backbones.registry import LoadOptions, backbone_refs, unknown_name_error
from adaptgraph.backbones.zoo.bert import BertConfig, BertModel
from adaptgraph.backbones.zoo.convnext import ConvNeXt, ConvNeXtConfig
from adaptgraph.backbones.zoo.gpt import GPT, GPTConfig
from adaptgraph.backbones.zoo.resnet import ResNet, ResNetConfig
from adaptgraph.backbones.zoo.seeding import EXAMPLE_TEXTS, example_images, seeded
from adaptgraph.backbones.zoo.vit import ViTConfig, VisionTransformer

EXAMPLE_MAX_LENGTH = 32


@dataclass(frozen=True)
class ZooEntry:
    """How to build one zoo model; ``image_shape`` for image models, ``vocab_size`` for text models."""

    build: Callable[[], nn.Module]
    image_shape: tuple[int, int, int] | None = None
    vocab_size: int | None = None


_VIT_BASE = ViTConfig(image_size=224, patch_size=16, width=768, depth=12, heads=12)

ZOO: dict[str, ZooEntry] = {
    "vit-tiny": ZooEntry(lambda: VisionTransformer(ViTConfig()), image_shape=(3, 32, 32)),
    "vit-base-shape": ZooEntry(lambda: VisionTransformer(_VIT_BASE), image_shape=(3, 224, 224)),
    "gpt-tiny": ZooEntry(lambda: GPT(GPTConfig()), vocab_size=GPTConfig.vocab_size),
    "bert-tiny": ZooEntry(lambda: BertModel(BertConfig()), vocab_size=BertConfig.vocab_size),
    "resnet-tiny": ZooEntry(lambda: ResNet(ResNetConfig()), image_shape=(3, 32, 32)),
    "convnext-tiny": ZooEntry(lambda: ConvNeXt(ConvNeXtConfig()), image_shape=(3, 32, 32)),
}


def zoo_refs() -> list[str]:
    """``zoo:NAME`` for every zoo model."""
    return [f"zoo:{name}" for name in sorted(ZOO)]


def load_zoo(name: str, options: LoadOptions) -> Backbone:
    """Build zoo model ``name`` with weights seeded from its name; ``options`` are not needed."""
    entry = ZOO.get(name)
    if entry is None:
        raise unknown_name_error(f"zoo:{name}", backbone_refs(),
                                 fallback=f"the zoo has {', '.join(zoo_refs())}")
    with seeded(f"zoo:{name}"):
        module = entry.build().eval()
    tokenizer = HashTokenizer(entry.vocab_size) if entry.vocab_size else None
    if tokenizer is not None:
        batch = tokenizer(list(EXAMPLE_TEXTS), max_length=EXAMPLE_MAX_LENGTH)
        inputs = (batch["input_ids"], batch["attention_mask"])
    else:
        inputs = example_images(f"zoo:{name}", entry.image_shape)
    return Backbone(
        ref=f"zoo:{name}",
        module=module,
        example_inputs=inputs,
        modality="text" if tokenizer is not None else "image",
        tokenizer=tokenizer,
        input_names=forward_argument_names(module, len(inputs)),
        image_shape=entry.image_shape,
        frontend="fx",
    )
