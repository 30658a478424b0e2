"""One root error for adaptgraph, a subclass per stage, and source spans.

Every error a user can cause is an ``AdaptGraphError``. Errors that point into
a ``.adapt`` file carry ``Problem`` records (span + message + hint) so that all
problems of a file are reported together, each with ``file:line:col``, the
offending line and a caret.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Span:
    """A position in a source text: 1-based line and column, plus the line's text."""

    file: str
    line: int
    col: int
    text: str = ""  # the whole source line, for the caret display
    width: int = 1  # how many characters the caret underlines

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def excerpt(self) -> str:
        if not self.text:
            return ""
        line = self.text.rstrip("\r\n")
        if len(line) > 200:  # keep huge lines readable: show a window around the column
            start = max(0, self.col - 100)
            shown = line[start:start + 200]
            caret_at = self.col - 1 - start
        else:
            shown, caret_at = line, self.col - 1
        width = max(1, min(self.width, len(shown) - caret_at, 80))
        return f"    {shown}\n    {' ' * caret_at}{'^' * width}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input."""

    message: str
    span: Span | None = None
    path: str = ""  # field path inside the spec, e.g. ``edges[2].rank``
    hint: str = ""

    def format(self) -> str:
        head = f"{self.span.where()}: " if self.span else ""
        where = f" ({self.path})" if self.path else ""
        out = [f"{head}error: {self.message}{where}"]
        if self.span and self.span.text:
            out.append(self.span.excerpt())
        if self.hint:
            out.append(f"    hint: {self.hint}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        d = {"message": self.message, "path": self.path, "hint": self.hint}
        if self.span:
            d.update(file=self.span.file, line=self.span.line, col=self.span.col)
        return d


class AdaptGraphError(Exception):
    """Root of every error adaptgraph raises on purpose."""

    exit_code = 1

    def __init__(self, message: str = "", problems: Sequence[Problem] = (), hint: str = ""):
        self.problems = tuple(problems) or (Problem(message, hint=hint),)
        super().__init__(message or self.format())

    def format(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    def __str__(self) -> str:
        return self.format()


class SpecError(AdaptGraphError, ValueError):
    """The ``.adapt`` text (or its YAML/JSON form) is not a valid spec."""


class SpecSyntaxError(SpecError):
    """The text does not follow the grammar."""


class BackboneError(AdaptGraphError, ValueError):
    """A backbone reference cannot be loaded (unknown, missing package, untrusted code)."""


class TraceError(AdaptGraphError, RuntimeError):
    """No tracing frontend produced a graph that matches the eager model."""


class PlanError(AdaptGraphError, ValueError):
    """The spec does not fit the traced backbone (unknown points, shapes, kinds)."""


class PassError(AdaptGraphError, RuntimeError):
    """A graph rewrite failed; names the pass and the passes that ran before it."""


class AdapterFileError(AdaptGraphError, ValueError):
    """A saved adapter file is damaged or belongs to another spec or backbone."""


class TaskError(AdaptGraphError, ValueError):
    """A task or its data cannot be loaded, or does not fit the backbone."""


class ScoreError(AdaptGraphError, ValueError):
    """Scoring or selection was asked something it cannot do."""


class SearchError(AdaptGraphError, RuntimeError):
    """A search run cannot start or resume."""


class TrainingError(AdaptGraphError, RuntimeError):
    """Training cannot go on (the loss is not a finite number)."""


class RunFolderError(AdaptGraphError, RuntimeError):
    """An output folder is in use by another run, or holds files adaptgraph did not write."""


class InteropError(AdaptGraphError, ValueError):
    """A PEFT export or import, or a merge, meets something the other side cannot express."""


class PlotError(AdaptGraphError, ValueError):
    """A picture cannot be drawn: no matplotlib, an output format it cannot write, scores of another backbone."""


class FileAccessError(AdaptGraphError, RuntimeError):
    """A file or folder cannot be read or written: the OS refused, it is not a regular file, it is
    larger than its bound, or an output would go over an input (``adaptgraph.fileio``)."""


class ArgumentError(AdaptGraphError, TypeError):
    """A Python API function was given an argument of the wrong type or out of its range (names the parameter)."""


class SpecWarning(UserWarning):
    """Something in a spec that is valid but likely not what it seems (bidirectional control characters)."""


class UsageError(AdaptGraphError, ValueError):
    """The command line was used wrongly."""

    exit_code = 2


def closest(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The valid names nearest to ``name``, best first (for "did you mean"); ``cutoff``: difflib's ratio."""
    pool = sorted(set(choices))
    found = difflib.get_close_matches(name, pool, n=n, cutoff=cutoff)
    if not found:  # fall back to a shared-prefix match for long dotted paths
        found = [c for c in pool if name and c.startswith(name.rsplit(".", 1)[0] + ".")][:n]
    return found


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """A hint sentence such as ``did you mean 'gelu'?``, or an empty string."""
    found = closest(name, choices, cutoff=cutoff)
    if not found:
        return ""
    return "did you mean " + " or ".join(repr(f) for f in found) + "?"


def some_names(names: Sequence[str], quote: bool = False, shown: int = 5) -> str:
    """The first ``shown`` of ``names`` for a message (``quote``: as ``repr``), and how many more there are."""
    listed = ", ".join(repr(n) if quote else n for n in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def first_line(exc: BaseException) -> str:
    """``TypeName: first line of the message`` for one-line reports."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class ProblemList:
    """Collects problems, then raises them together as one error."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, span: Span | None = None, path: str = "", hint: str = "") -> None:
        self.problems.append(Problem(message, span, path, hint))

    def raise_if_any(self, cls: type[AdaptGraphError] = SpecError) -> None:
        if self.problems:
            unique = {(p.path, p.message, p.span): p for p in self.problems}  # loops repeat problems
            ordered = sorted(unique.values(), key=_position)
            raise cls(problems=ordered)

    def __bool__(self) -> bool:
        return bool(self.problems)


def _position(p: Problem) -> tuple:
    return (p.span.line, p.span.col) if p.span else (10**9, 0)
