"""Tiny backbones, models, tokenizer and data files for the training tests."""
from __future__ import annotations

import csv
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

VOCAB = 97


class TinyTokenizer:
    """Whitespace words hashed into a small vocabulary; id 1 is a leading CLS, 0 pads."""

    def __call__(self, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
        rows = [[1] + [zlib.crc32(w.lower().encode()) % (VOCAB - 2) + 2 for w in t.split()] for t in texts]
        rows = [r[:max_length] for r in rows]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}


@dataclass(frozen=True)
class TinyBackbone:
    """Just the Backbone fields that training reads."""

    ref: str
    modality: str
    tokenizer: object | None = None
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    image_shape: tuple[int, int, int] | None = None


TEXT_BACKBONE = TinyBackbone("tiny:text", "text", TinyTokenizer())
IMAGE_BACKBONE = TinyBackbone("tiny:image", "image", None, ("pixels",), (3, 12, 12))


class TinyTextModel(nn.Module):
    """Frozen embedding plus a trainable residual bottleneck: (B, T) ids -> (B, T, D) tokens."""

    def __init__(self, dim: int = 16, rank: int = 4):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim)
        self.embed.requires_grad_(False)
        self.adapter = nn.Sequential(nn.Linear(dim, rank), nn.Dropout(0.0), nn.Linear(rank, dim))

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids)
        return h + self.adapter(h)


class TinyImageModel(nn.Module):
    """Frozen conv with batch norm plus a trainable 1x1 conv: (B, 3, H, W) -> (B, 8, H, W)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.stem.requires_grad_(False)
        self.adapter = nn.Conv2d(8, 8, 1)

    def forward(self, pixels):
        h = self.stem(pixels)
        return h + self.adapter(h)


POOLS = {
    "animal": "cat dog horse cow sheep goat lion tiger wolf bear",
    "food": "bread cheese apple soup rice pasta cake bean pear plum",
    "tool": "hammer saw drill wrench pliers chisel file level rake axe",
}
FILLER = "the a some big small old new red green very quite".split()


def synthetic_rows(n_per_class: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """Short sentences whose class shows in one or two content words among filler."""
    rng = random.Random(seed)
    rows = []
    for label, pool in POOLS.items():
        words = pool.split()
        for _ in range(n_per_class):
            sentence = rng.sample(FILLER, rng.randint(2, 5)) + rng.sample(words, rng.randint(1, 2))
            rng.shuffle(sentence)
            rows.append((" ".join(sentence), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by  \n" \
          "  2 Princeton University under the following license.  \n"


def synset(offset: int, lexfile: int, pos: str, word: str, gloss: str) -> str:
    """One line of a WordNet data file (no pointers)."""
    return f"{offset:08d} {lexfile:02d} {pos} 01 {word} 0 000 | {gloss}  \n"


def write_wordnet(folder: Path, noun: list[tuple[int, str]], verb: list[tuple[int, str]] = ()) -> Path:
    """A WordNet-format database holding ``(lexfile, gloss)`` synsets in data.noun and data.verb."""
    folder.mkdir(parents=True, exist_ok=True)
    for pos, tag, entries in (("noun", "n", noun), ("verb", "v", verb)):
        lines = [synset(1000 + 100 * i, lex, tag, f"w{i}", gloss) for i, (lex, gloss) in enumerate(entries)]
        (folder / f"data.{pos}").write_text(LICENCE + "".join(lines))
    return folder
