"""Deterministic construction: the same zoo name always gives the same weights and inputs."""
from __future__ import annotations

import zlib
from contextlib import contextmanager
from typing import Iterator

import torch

EXAMPLE_TEXTS = ("a small example sentence.", "another, slightly longer example sentence for the batch!")


def seed_of(name: str) -> int:
    """A seed derived from the name (CRC-32), stable across runs and machines."""
    return zlib.crc32(name.encode("utf-8"))


@contextmanager
def seeded(name: str) -> Iterator[None]:
    """Run the block with the global RNG seeded from ``name``, then restore the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_of(name))
        yield


def example_images(name: str, shape: tuple[int, int, int], batch: int = 2) -> tuple[torch.Tensor]:
    """A fixed batch of random images (normal noise) for the backbone ``name``."""
    generator = torch.Generator().manual_seed(seed_of(name + "/inputs"))
    return (torch.randn((batch, *shape), generator=generator),)
