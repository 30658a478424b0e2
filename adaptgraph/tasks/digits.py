"""``digits[?size=N]``: scikit-learn's bundled 8x8 handwritten digits as images.

1,797 grey images of 10 classes, values scaled to [0, 1], each a float tensor
``(1, N, N)``; ``size=N`` (default 8, from 8 to 256) upsamples them bilinearly.
The batcher resizes again and repeats the channel to whatever the backbone's
``image_shape`` asks for, so ``size`` only matters when you want the task
itself at a given resolution. Needs scikit-learn (``pip install
adaptgraph[data]``); nothing is downloaded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import TaskError
from .base import SplitTask, dedupe, stratified_split
from .refs import TaskRef, check_options, int_option, split_fractions

NATIVE_SIZE = 8
# 1,797 images of MAX_SIZE^2 floats are 470 MB; the batcher resizes to the backbone's input anyway.
MAX_SIZE = 256


def digit_images(size: int = NATIVE_SIZE) -> tuple[torch.Tensor, list[int]]:
    """All digit images as one ``(n, 1, size, size)`` tensor in [0, 1], and their labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise TaskError("the digits task needs scikit-learn, which is not installed",
                        hint="pip install 'adaptgraph[data]' (or pip install scikit-learn)") from None
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != NATIVE_SIZE:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images, [int(t) for t in data.target]


def load_digits_task(ref: TaskRef, seed: int) -> SplitTask:
    """Build the task a ``digits`` reference describes."""
    check_options(ref, ("size",))
    if ref.body:
        raise TaskError(f"task '{ref.text}' takes no ':{ref.body}' part", hint="write digits or digits?size=N")
    size = int_option(ref, "size", NATIVE_SIZE, minimum=NATIVE_SIZE, maximum=MAX_SIZE)
    images, labels = digit_images(size)
    examples = [(images[i], labels[i]) for i in range(len(labels))]
    kept, _ = dedupe(examples, key=lambda x: x.numpy().tobytes())
    classes = tuple(str(d) for d in range(10))
    splits = stratified_split(kept, classes, seed, split_fractions(ref), int_option(ref, "per_class", None))
    return SplitTask(ref.canonical(), classes, "image", splits, seed)
