"""Tasks, their data and the head on the features: what both scoring and training learn from.

This layer sits below ``score`` and ``train`` (both import it; it imports neither).

- :class:`Task` (the protocol) and ``load_task`` for the built-in providers;
- ``make_loader``: batches (:class:`Batch`) of a task's examples for one backbone (``data``);
- :class:`TaskHead`, and ``make_head`` / ``fit_probe`` for the head scoring uses (``head``).

``load_task(ref, seed)`` understands ``wordnet:SELECTION``, ``csv:PATH``,
``jsonl:PATH``, ``digits`` and ``lm:PATH`` (each provider's module documents its
options); a :class:`Task` object is returned as it is, so your own task works
wherever a reference does. A language-model task (``lm``) is bound to a backbone's
tokenizer with ``bind_task`` and trains through the backbone's own LM head (``lm_head``).
"""
from __future__ import annotations

from ..errors import TaskError
from ..registry import Registry
from ..arguments import check_seed
from .base import SPLITS, SplitTask, Task, check_task
from .data import Batch, Shard, make_loader
from .digits import load_digits_task
from .lm import LMTask, load_lm
from .lm_head import LMHead, lm_head
from .head import HEADS, POOLINGS, TaskHead, fit_probe, load_head, make_head
from .refs import TaskRef, parse_task_ref
from .tabular import load_tabular
from .wordnet import load_wordnet

# provider name -> (parsed reference, seed) -> SplitTask; a new provider is one registration
PROVIDERS = Registry("task provider", TaskError)
PROVIDERS.register("wordnet", load_wordnet)
PROVIDERS.register("csv", load_tabular)
PROVIDERS.register("jsonl", load_tabular)
PROVIDERS.register("digits", load_digits_task)
PROVIDERS.register("lm", load_lm)


def load_task(ref: "str | Task", seed: int = 0) -> Task:
    """The task a reference names, split with ``seed``; a Task object passes through after a check."""
    if not isinstance(ref, str):
        check_task(ref)
        return ref
    check_seed(seed, "seed")  # a float or negative seed split silently, or failed inside numpy
    parsed = parse_task_ref(ref.strip(), PROVIDERS.names())
    return PROVIDERS.lookup(parsed.provider)(parsed, seed)


def bind_task(task, backbone):
    """``task`` as it is for ``backbone``: a language-model task becomes its token blocks."""
    bind = getattr(task, "for_backbone", None)
    return bind(backbone) if bind is not None else task


def task_refs() -> list[str]:
    """Example references, for help texts and "did you mean"."""
    return ["wordnet:noun", "wordnet:all", "csv:PATH", "jsonl:PATH", "digits", "lm:PATH"]


__all__ = ["HEADS", "POOLINGS", "PROVIDERS", "SPLITS", "Batch", "LMHead", "LMTask", "Shard", "SplitTask", "Task",
           "TaskHead", "TaskRef", "bind_task", "fit_probe", "lm_head", "load_head", "load_task", "make_head",
           "make_loader", "parse_task_ref"]
