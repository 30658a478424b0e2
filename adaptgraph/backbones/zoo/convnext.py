"""A small hierarchical ConvNeXt (NCHW) whose module names follow timm's ``ConvNeXt``.

``stem.{0,1}``, then ``stages.N.downsample`` (an Identity for stage 0, else a
LayerNorm2d and a conv) and ``stages.N.blocks.M.{conv_dw, norm, mlp.fc1, mlp.act,
mlp.fc2}``. Every stage has its own width. Most stages halve the feature map, as in
ConvNeXt and Swin; a stage whose stride is 1 changes only the width (as EfficientNet's
stride-1 stages do), so the zoo also has points of different widths on one grid.
The layer scale of timm's blocks is left out (it starts blocks at almost identity,
which makes a random-weight model a poor test of anything).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from adaptgraph.backbones.zoo.vit import Mlp  # fc1 -> GELU -> fc2, channels last here


@dataclass(frozen=True)
class ConvNeXtConfig:
    """Shape of a ConvNeXt: one width, block count and downsampling stride per stage."""

    image_size: int = 32
    channels: int = 3
    patch_size: int = 2
    widths: tuple[int, ...] = (16, 24, 32, 48)
    depths: tuple[int, ...] = (2, 2, 3, 2)
    strides: tuple[int, ...] = (1, 1, 2, 2)  # stage 0 reads the stem directly; its stride must be 1
    kernel_size: int = 3
    mlp_ratio: int = 4


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (timm's ``LayerNorm2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv, LayerNorm and MLP (channels last), added to the input: one residual merge."""

    def __init__(self, width: int, cfg: ConvNeXtConfig):
        super().__init__()
        self.conv_dw = nn.Conv2d(width, width, cfg.kernel_size, padding=cfg.kernel_size // 2, groups=width)
        self.norm = nn.LayerNorm(width)
        self.mlp = Mlp(width, cfg.mlp_ratio * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_dw(x).permute(0, 2, 3, 1)
        y = self.mlp(self.norm(y)).permute(0, 3, 1, 2)
        return x + y


class ConvNeXtStage(nn.Module):
    """``downsample`` to this stage's width and grid, then ``blocks``."""

    def __init__(self, inp: int, width: int, stride: int, depth: int, cfg: ConvNeXtConfig):
        super().__init__()
        if inp == width and stride == 1:
            self.downsample = nn.Identity()
        else:
            self.downsample = nn.Sequential(LayerNorm2d(inp), nn.Conv2d(inp, width, stride, stride=stride))
        self.blocks = nn.Sequential(*(ConvNeXtBlock(width, cfg) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXt(nn.Module):
    """forward(pixels (B, C, H, W)) -> the last stage's feature map (B, C', H', W')."""

    def __init__(self, cfg: ConvNeXtConfig):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cfg.channels, cfg.widths[0], cfg.patch_size, stride=cfg.patch_size),
                                  LayerNorm2d(cfg.widths[0]))
        inputs = (cfg.widths[0], *cfg.widths[:-1])
        self.stages = nn.Sequential(*(ConvNeXtStage(i, w, s, d, cfg) for i, w, s, d
                                      in zip(inputs, cfg.widths, cfg.strides, cfg.depths, strict=True)))
        for m in self.modules():  # timm's init
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(pixels))
