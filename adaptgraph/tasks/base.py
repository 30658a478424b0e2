"""The task protocol, the concrete in-memory task, and seeded stratified splits.

A *task* is a classification problem with three fixed splits. Anything that has
the attributes and methods of :class:`Task` can be trained on, so users can
bring their own task without registering anything::

    class MyTask:
        name = "my-task"
        class_names = ("neg", "pos")
        num_classes = 2
        modality = "text"                 # or "image", or "audio"
        def examples(self, split):        # "train" | "validation" | "test"
            return [("great film", 1), ("dull", 0)]
        def fingerprint(self):
            return "my-task|v1"

Inputs are ``str`` for text tasks, float tensors ``(C, H, W)`` for image
tasks and ``(mel bins, frames)`` log-mel features for audio tasks (Whisper's
encoder); labels are ints in ``range(num_classes)``. The loss is cross-entropy.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable, Hashable, Protocol, Sequence, runtime_checkable

from ..errors import TaskError, did_you_mean

SPLITS = ("train", "validation", "test")
MODALITIES = ("text", "image", "audio")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

Example = tuple[object, int]


@runtime_checkable
class Task(Protocol):
    """What the training loop needs from a task (see the module docstring)."""

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    modality: str

    def examples(self, split: str) -> list[Example]:
        """The ``(input, label)`` pairs of ``split`` ("train", "validation" or "test"), in a fixed order."""
        ...

    def fingerprint(self) -> str:
        """A string that identifies the task, its class selection, its data and its split seed."""
        ...


@dataclass(frozen=True)
class SplitTask:
    """A task whose three splits are held in memory; what every built-in provider returns."""

    name: str
    class_names: tuple[str, ...]
    modality: str
    splits: tuple[tuple[Example, ...], tuple[Example, ...], tuple[Example, ...]]
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def examples(self, split: str) -> list[Example]:
        """The examples of one split, as a fresh list."""
        return list(self.splits[split_index(split)])

    def fingerprint(self) -> str:
        """``NAME|seed=S|HASH`` where HASH covers the class names and every example of every split."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.class_names).encode())
        for index, split in enumerate(self.splits):
            digest.update(f"|{SPLITS[index]}|".encode())
            for x, y in split:
                digest.update(_example_bytes(x) + b"\x1e" + str(y).encode() + b"\x1d")
        return f"{self.name}|seed={self.seed}|{digest.hexdigest()[:16]}"


def split_index(split: str) -> int:
    """The position of ``split`` in ``SPLITS``; TaskError for anything else."""
    if split not in SPLITS:
        hint = did_you_mean(split, SPLITS) or f"choose one of {', '.join(SPLITS)}"
        raise TaskError(f"unknown split '{split}'", hint=hint)
    return SPLITS.index(split)


def _example_bytes(x: object) -> bytes:
    if isinstance(x, str):
        return x.encode()
    to_bytes = getattr(x, "numpy", None)  # tensors: hash their values, not their identity
    if to_bytes is not None:
        return x.detach().cpu().contiguous().numpy().tobytes()
    return repr(x).encode()


def check_task(task: object) -> None:
    """TaskError if ``task`` does not follow the :class:`Task` protocol."""
    missing = [a for a in ("name", "num_classes", "class_names", "modality", "examples", "fingerprint")
               if not hasattr(task, a)]
    if missing:
        raise TaskError(f"{type(task).__name__} is not a task: it lacks {', '.join(missing)}",
                        hint="see adaptgraph.tasks.Task for the protocol")
    if task.modality not in MODALITIES:
        raise TaskError(f"task '{task.name}' has modality '{task.modality}'",
                        hint=f"use one of {', '.join(MODALITIES)}")


def split_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Train/validation/test counts for one class of ``n`` examples.

    Rounds each held-out share to the nearest integer, but a class with at least
    three examples always gets one example in each held-out split whose share is
    above zero, so every class appears in every split when it can.
    """
    n_val = int(n * fractions[1] + 0.5)
    n_test = int(n * fractions[2] + 0.5)
    if n >= 3:
        n_val = max(int(fractions[1] > 0), n_val)
        n_test = max(int(fractions[2] > 0), n_test)
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    return n - n_val - n_test, n_val, n_test


def stratified_split(examples: Sequence[Example], class_names: Sequence[str], seed: int,
                     fractions: Sequence[float] = DEFAULT_FRACTIONS,
                     per_class: int | None = None) -> tuple[tuple[Example, ...], ...]:
    """Split ``examples`` per class into train/validation/test, shuffled by ``seed``.

    Each class is shuffled by its own generator seeded with ``(seed, class name)``,
    so a class's split does not change when other classes are added or removed.
    ``per_class`` keeps at most that many examples of each class (the first ones
    of the seeded order) before splitting. The order inside each split is
    deterministic: classes in label order, examples in their shuffled order.
    """
    by_class: list[list[Example]] = [[] for _ in class_names]
    for x, y in examples:
        by_class[y].append((x, y))
    out: tuple[list[Example], list[Example], list[Example]] = ([], [], [])
    for label, members in enumerate(by_class):
        random.Random(f"{seed}:{class_names[label]}").shuffle(members)
        if per_class is not None:
            members = members[:per_class]
        n_train, n_val, _ = split_sizes(len(members), fractions)
        out[0].extend(members[:n_train])
        out[1].extend(members[n_train:n_train + n_val])
        out[2].extend(members[n_train + n_val:])
    _check_not_empty(out, fractions, len(examples), per_class)
    return tuple(tuple(part) for part in out)


def _check_not_empty(splits, fractions: Sequence[float], n: int, per_class: int | None) -> None:
    """A split given a share but left without examples is an error, not a silent empty split."""
    for index in (1, 2):
        if fractions[index] > 0 and not splits[index]:
            kept = f" (per_class={per_class})" if per_class is not None else ""
            raise TaskError(f"the {SPLITS[index]} split is empty: {n} examples{kept} are too few for its share of "
                            f"{fractions[index]:.0%}", hint="give more examples (a class needs 3 to reach every "
                            "split), a larger share (split=A/B/C; 0 for no such split), or, for csv:/jsonl:, its "
                            f"own file (?{SPLITS[index]}=PATH)")


def dedupe(examples: Sequence[Example], key: Callable[[object], Hashable]) -> tuple[list[Example], int]:
    """Collapse examples with the same input; drop inputs seen with different labels.

    Returns the kept examples (first occurrence order) and how many distinct
    inputs were dropped as ambiguous. Splitting the deduplicated list keeps the
    splits disjoint even when the source repeats an input.
    """
    labels: dict[Hashable, set[int]] = {}
    first: dict[Hashable, Example] = {}
    for x, y in examples:
        k = key(x)
        labels.setdefault(k, set()).add(y)
        first.setdefault(k, (x, y))
    kept = [ex for k, ex in first.items() if len(labels[k]) == 1]
    return kept, len(first) - len(kept)
