"""Tasks: the :class:`Task` protocol and ``load_task`` for the built-in providers.

``load_task(ref, seed)`` understands ``wordnet:SELECTION``, ``csv:PATH``,
``jsonl:PATH`` and ``digits`` (each provider's module documents its options);
a :class:`Task` object is returned as it is, so your own task works wherever a
reference does.
"""
from __future__ import annotations

from typing import Callable

from .base import SPLITS, SplitTask, Task, check_task, dedupe, split_sizes, stratified_split
from .digits import load_digits_task
from .refs import TaskRef, parse_task_ref
from .tabular import load_tabular
from .wordnet import LEXNAMES, WORDNET_DIR_ENV, clean_gloss, load_wordnet, select_classes

PROVIDERS: dict[str, Callable[[TaskRef, int], SplitTask]] = {
    "wordnet": load_wordnet,
    "csv": load_tabular,
    "jsonl": load_tabular,
    "digits": load_digits_task,
}


def load_task(ref: "str | Task", seed: int = 0) -> Task:
    """The task a reference names, split with ``seed``; a Task object passes through after a check."""
    if not isinstance(ref, str):
        check_task(ref)
        return ref
    parsed = parse_task_ref(ref.strip(), tuple(PROVIDERS))
    return PROVIDERS[parsed.provider](parsed, seed)


def task_refs() -> list[str]:
    """Example references, for help texts and "did you mean"."""
    return ["wordnet:noun", "wordnet:all", "csv:PATH", "jsonl:PATH", "digits"]


__all__ = ["SPLITS", "LEXNAMES", "WORDNET_DIR_ENV", "SplitTask", "Task", "TaskRef", "check_task", "clean_gloss",
           "dedupe", "load_task", "parse_task_ref", "select_classes", "split_sizes", "stratified_split",
           "task_refs"]
