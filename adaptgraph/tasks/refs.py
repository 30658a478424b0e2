"""Task references: ``PROVIDER[:BODY][?KEY=VALUE&KEY=VALUE...]``.

Examples: ``wordnet:noun?per_class=100``, ``csv:data.csv?text=sentence&label=y``,
``digits?size=16``. Options common to every provider:

- ``per_class=N``: keep at most N examples of each class (chosen by the seed)
  before splitting;
- ``split=TRAIN/VALIDATION/TEST``: the proportions of a seeded split, e.g.
  ``80/10/10`` (the default) or ``70/15/15``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ..errors import TaskError, did_you_mean
from .base import DEFAULT_FRACTIONS

COMMON_OPTIONS = ("per_class", "split")


@dataclass(frozen=True)
class TaskRef:
    """A parsed task reference; ``options`` keeps the user's order."""

    text: str
    provider: str
    body: str
    options: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)

    def canonical(self, body: str | None = None) -> str:
        """The reference with options sorted, for names and fingerprints."""
        head = self.provider + (f":{body if body is not None else self.body}" if (body or self.body) else "")
        opts = "&".join(f"{k}={v}" for k, v in sorted(self.options))
        return head + (f"?{opts}" if opts else "")


def parse_task_ref(text: str, providers: tuple[str, ...]) -> TaskRef:
    """Split ``text`` into provider, body and options; TaskError on an unknown provider or a bad option list."""
    head, _, query = text.partition("?")
    provider, _, body = head.partition(":")
    if provider not in providers:
        hint = did_you_mean(provider, providers) or f"known providers: {', '.join(providers)}"
        raise TaskError(f"unknown task provider '{provider}' in '{text}'", hint=hint)
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise TaskError(f"cannot read the options '{query}' of task '{text}'",
                        hint="write options as ?key=value&key=value") from None
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise TaskError(f"option '{repeated[0]}' is given twice in task '{text}'")
    return TaskRef(text, provider, body, tuple(pairs))


def check_options(ref: TaskRef, allowed: tuple[str, ...]) -> None:
    """TaskError naming the first option the provider does not know."""
    known = allowed + COMMON_OPTIONS
    for key, _ in ref.options:
        if key not in known:
            hint = did_you_mean(key, known) or ""
            raise TaskError(f"unknown option '{key}' for {ref.provider} tasks (options: {', '.join(known)})",
                            hint=hint)


def int_option(ref: TaskRef, key: str, default: int | None, minimum: int = 1,
               maximum: int = 10**9) -> int | None:
    """An integer option in ``minimum..maximum``, or ``default`` when absent."""
    raw = ref.get(key)
    if raw is None:
        return default
    if not _DECIMAL.fullmatch(raw.strip()) or not minimum <= int(raw) <= maximum:
        bound = f">= {minimum}" + (f" and <= {maximum}" if maximum < 10**9 else "")
        raise TaskError(f"option {key}={raw} of task '{ref.text}' must be an integer {bound}")
    return int(raw)


_DECIMAL = re.compile(r"[0-9]{1,12}")  # ASCII digits only ('²'.isdigit() is true), and not 10,000 of them


MAX_PROPORTION = 1e6  # proportions are percentages or counts, never astronomical


def split_fractions(ref: TaskRef) -> tuple[float, float, float]:
    """The ``split=A/B/C`` option as fractions summing to 1 (default 80/10/10)."""
    raw = ref.get("split")
    if raw is None:
        return DEFAULT_FRACTIONS
    parts = raw.split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    # each at most MAX_PROPORTION: 1e308/1e308/1 sums to infinity, and every fraction would be 0 or nan
    if len(values) != 3 or not all(0 <= v <= MAX_PROPORTION for v in values) or values[0] <= 0:
        raise TaskError(f"option split={raw} of task '{ref.text}' must be three proportions TRAIN/VALIDATION/TEST",
                        hint="for example split=80/10/10; train must be > 0")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]
