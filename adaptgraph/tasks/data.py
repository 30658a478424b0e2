"""From task examples to model inputs: checks, batching and the global-batch sampler.

The sampler cuts one seeded permutation per epoch into *global* batches of
``batch_size`` and gives rank ``r`` of ``w`` the examples ``r, r + w, ...`` of
each. Every example carries a loss weight ``w / len(global batch)``, so the
weighted sum of per-example losses on each rank, averaged over ranks by
DistributedDataParallel, is exactly the mean over the global batch: one process
and several see the same batches and take the same steps, up to float order.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import TaskError

Item = tuple[int, float]  # (example index, loss weight; 0 marks a padding item)
IGNORE_INDEX = -100  # a target that no loss counts (prompt tokens and padding of instruction examples)


@dataclass(frozen=True)
class Scored:
    """A token sequence of which only some positions are targets (``lm:`` instruction examples).

    ``scored[t]`` says whether token ``t`` is predicted with a loss (from the tokens before it);
    it is never true at ``t = 0``, which nothing comes before.
    """

    ids: torch.Tensor  # (T,) long
    scored: torch.Tensor  # (T,) bool


@dataclass(frozen=True)
class Batch:
    """Model inputs for one batch plus what the loss and the head need."""

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    weights: torch.Tensor
    attention_mask: torch.Tensor | None
    targets: torch.Tensor | None = None  # (B, T) token targets, IGNORE_INDEX where unscored (instruction data)

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(tuple(move(t) for t in self.inputs), move(self.labels), move(self.weights),
                     move(self.attention_mask), move(self.targets))


def check_fits(task, backbone) -> None:
    """TaskError when the task's input kind is not what the backbone takes."""
    modality = getattr(backbone, "modality", None)
    if task.modality != modality:
        ref = getattr(backbone, "ref", type(backbone).__name__)
        fix = {"image": "an image task such as digits", "audio": "your own task of log-mel features "
               "(modality 'audio')"}.get(modality, "a text task (wordnet:, csv:, jsonl:)")
        raise TaskError(f"{task.modality} task '{task.name}' on {_a(modality)} backbone '{ref}'",
                        hint=f"choose {fix} or {_a(task.modality)} backbone")
    if modality == "text" and getattr(backbone, "tokenizer", None) is None:
        raise TaskError(f"text backbone '{getattr(backbone, 'ref', '?')}' has no tokenizer",
                        hint="load the backbone with its tokenizer")


def check_labels(examples: Sequence[tuple[object, int]], task, split: str) -> None:
    """TaskError naming the first example whose label is not a class index of ``task``."""
    for position, (_, label) in enumerate(examples):
        if not isinstance(label, numbers.Integral) or not 0 <= label < task.num_classes:
            raise TaskError(f"example {position} of split '{split}' of task '{task.name}' has label {label!r}; "
                            f"labels must be integers in 0..{task.num_classes - 1}")


def _a(word: object) -> str:
    return f"{'an' if str(word)[:1] in tuple('aeiou') else 'a'} {word}"


class Examples(Dataset):
    """A list of examples indexed by ``(index, weight)`` items."""

    def __init__(self, examples: Sequence[tuple[object, int]]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, item: Item) -> tuple[object, int, float]:
        x, y = self.examples[item[0]]
        return x, y, item[1]


class Shard(NamedTuple):
    """Which share of each global batch this process takes: ``rank`` of ``world_size`` (one process: 0 of 1)."""

    rank: int = 0
    world_size: int = 1


class GlobalBatchSampler(Sampler):
    """Yields this rank's share of each global batch (see the module docstring)."""

    def __init__(self, n: int, batch_size: int, *, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (a new permutation, same on every rank)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[Item]]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        else:
            order = list(range(self.n))
        for start in range(0, self.n, self.batch_size):
            chunk = order[start:start + self.batch_size]
            mine = chunk[self.rank::self.world_size]
            if not mine:  # a rank must still take part in the step: one item with no weight
                yield [(chunk[0], 0.0)]
            else:
                yield [(i, self.world_size / len(chunk)) for i in mine]


class Collator:
    """Turns ``(input, label, weight)`` triples into a :class:`Batch` for one backbone."""

    def __init__(self, backbone, max_length: int):
        self.modality = backbone.modality
        self.tokenizer = getattr(backbone, "tokenizer", None)
        self.input_names = tuple(getattr(backbone, "input_names", ()) or ())
        self.image_shape = getattr(backbone, "image_shape", None)
        self.max_length = max_length

    def __call__(self, items: list[tuple[object, int, float]]) -> Batch:
        xs = [x for x, _, _ in items]
        labels = torch.tensor([y for _, y, _ in items], dtype=torch.long)
        weights = torch.tensor([w for _, _, w in items], dtype=torch.float32)
        targets = None
        if self.modality == "text":
            inputs, mask, targets = self._text(xs)
        else:
            inputs, mask = (fit_images(torch.stack(xs), self.image_shape),), None
        return Batch(inputs, labels, weights, mask, targets)

    def _text(self, texts: list) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | None, torch.Tensor | None]:
        targets = None
        if isinstance(texts[0], Scored):
            encoded, targets = _scored(texts)
        elif isinstance(texts[0], torch.Tensor):
            encoded = _tokens(texts)
        else:
            encoded = self.tokenizer(texts, self.max_length)
        names = self.input_names or ("input_ids", "attention_mask")
        missing = [n for n in names if n not in encoded]
        if missing:
            raise TaskError(f"the tokenizer gives {', '.join(encoded)} but the backbone also takes {missing[0]}",
                            hint="use the tokenizer that belongs to the backbone")
        return tuple(encoded[n] for n in names), encoded.get("attention_mask"), targets


def _tokens(blocks: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Examples that are token blocks already (``lm:`` tasks): stacked, all of them real tokens."""
    ids = torch.stack(blocks)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def _scored(examples: list[Scored]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Instruction examples, right-padded to the longest of the batch; targets are the scored tokens.

    Right padding leaves every real token's causal context unchanged, so a padded
    example's losses are those it has alone.
    """
    ids = torch.zeros(len(examples), max(len(e.ids) for e in examples), dtype=torch.long)
    mask, targets = torch.zeros_like(ids), torch.full_like(ids, IGNORE_INDEX)
    for row, example in enumerate(examples):
        n = len(example.ids)
        ids[row, :n], mask[row, :n] = example.ids, 1
        targets[row, :n] = torch.where(example.scored, example.ids, IGNORE_INDEX)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}, targets


def fit_images(images: torch.Tensor, image_shape: tuple[int, int, int] | None) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` images to ``image_shape`` and repeat a single channel when it asks for more."""
    if image_shape is None:
        return images
    channels, height, width = image_shape
    if images.shape[-2:] != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    if images.shape[1] != channels:
        if images.shape[1] != 1:
            raise TaskError(f"task images have {images.shape[1]} channels but the backbone takes {channels}",
                            hint="use images with 1 channel (repeated) or as many as the backbone takes")
        images = images.expand(-1, channels, -1, -1).contiguous()
    return images


def make_loader(examples: Sequence[tuple[object, int]], backbone, *, batch_size: int, max_length: int,
                shuffle: bool, seed: int = 0, shard: Shard = Shard(), num_workers: int = 0) -> DataLoader:
    """A DataLoader of :class:`Batch` over ``examples`` (this process's ``shard`` of each global batch);
    its ``batch_sampler`` has ``set_epoch``."""
    sampler = GlobalBatchSampler(len(examples), batch_size, shuffle=shuffle, seed=seed,
                                 rank=shard.rank, world_size=shard.world_size)
    return DataLoader(Examples(examples), batch_sampler=sampler, collate_fn=Collator(backbone, max_length),
                      num_workers=num_workers)
