"""A small ResNet (NCHW) with torchvision's module names.

``conv1``, ``bn1``, ``relu`` (stem), then ``layer1..layerN`` of BasicBlocks
(``conv1``, ``bn1``, ``relu``, ``conv2``, ``bn2``, ``downsample``), each stage
wider and at half the spatial size of the one before.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ResNetConfig:
    """Shape of a ResNet: one width and block count per stage."""

    image_size: int = 32
    channels: int = 3
    widths: tuple[int, ...] = (16, 32, 64)
    blocks: tuple[int, ...] = (2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual add and ReLU; ``downsample`` matches the shortcut's shape."""

    def __init__(self, inp: int, out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        needs_projection = stride != 1 or inp != out
        self.downsample = (nn.Sequential(nn.Conv2d(inp, out, 1, stride=stride, bias=False),
                                         nn.BatchNorm2d(out))
                           if needs_projection else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + self.downsample(x))


class ResNet(nn.Module):
    """forward(pixels (B, C, H, W)) -> the last stage's feature map (B, C', H', W')."""

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        self.conv1 = nn.Conv2d(cfg.channels, cfg.widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.widths[0])
        self.relu = nn.ReLU()
        inp = cfg.widths[0]
        for stage, (width, count) in enumerate(zip(cfg.widths, cfg.blocks), start=1):
            stride = 1 if stage == 1 else 2
            blocks = [BasicBlock(inp if i == 0 else width, width, stride if i == 0 else 1)
                      for i in range(count)]
            self.add_module(f"layer{stage}", nn.Sequential(*blocks))
            inp = width
        self.stages = len(cfg.widths)
        for m in self.modules():  # torchvision's init, so activations keep their scale
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(pixels)))
        for stage in range(1, self.stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return x
