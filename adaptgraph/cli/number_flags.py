"""The one place where numbers and devices typed on the command line are checked.

argparse turns ``--seed 1180591620717411303424`` into an int and ``--lr nan`` into a
float without complaint; passed on, such values ended deep inside torch as internal
errors. Every option whose type is ``int`` or ``float``, in every command, is checked
here after parsing, by its type and a short table of exceptions, so a new option is
covered without a word; ``--device`` is checked against the machine. The seed bound and
the device check are the Python API's too (``adaptgraph.arguments``).
"""
from __future__ import annotations

import math

from ..arguments import SEED_MAX, resolve_device
from ..errors import Problem, UsageError

COUNT_MAX = 10**9  # epochs, steps, batch sizes, ranks, workers...: far beyond any real use
# Integer options that may be 0 (every other integer option counts something and starts at 1).
ZERO_OK = {"seed", "task_seed"}
# Float options that must be > 0 or >= 0 (every float must at least be finite).
POSITIVE = {"lr", "cpus_per_trial", "top_p"}
NON_NEGATIVE = {"gpus_per_trial", "rtol", "temperature"}


def check_number_flags(actions, args) -> None:
    """UsageError listing every bad number (and the device) among ``args``, given the command's argparse actions."""
    problems = []
    for action in actions:
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        for v in values:
            message = _problem(action.dest, action.type, v)
            if message:
                problems.append(Problem(f"{_flag(action)}: {message} (got {_shown(v)})"))
    if problems:
        raise UsageError(problems=problems)
    if getattr(args, "device", None) is not None:
        resolve_device(args.device)


def _problem(dest: str, kind, value) -> str:
    if value is None or kind not in (int, float) or not isinstance(value, (int, float)):
        return ""  # None, or a default not yet read from its home (commands.search_commands.FieldDefault)
    if kind is int:
        low, high = (0, SEED_MAX) if dest in ZERO_OK else (1, COUNT_MAX)
        return "" if low <= value <= high else f"must be an integer from {low} to {high}"
    if not math.isfinite(value):
        return "must be a finite number"
    if dest in POSITIVE and value <= 0:
        return "must be greater than 0"
    if dest in NON_NEGATIVE and value < 0:
        return "must be 0 or more"
    return ""


def _flag(action) -> str:
    longest = max(action.option_strings, key=len) if action.option_strings else action.dest
    return longest


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:20] + "..." + text[-10:]


class Choices:
    """An option's allowed values, read from their one home the first time argparse needs them.

    Every command builds the whole parser (``check`` too, which must import no torch), while most
    value lists live beside torch code (registries, tasks, training). Give such an option
    ``choices=Choices("adaptgraph.score", "METRICS")`` and a ``metavar`` (without one, argparse
    formats the choices as soon as the option is added); ``%(choices)s`` in its help lists them.
    """

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def _values(self) -> tuple:
        import importlib

        return tuple(getattr(importlib.import_module(self.module), self.name))

    def __contains__(self, value) -> bool:
        return value in self._values()

    def __iter__(self):
        return iter(self._values())
