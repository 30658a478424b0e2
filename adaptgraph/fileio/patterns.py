"""Regular expressions from files (PEFT's ``target_modules``, ``rank_pattern``, ``alpha_pattern``),
matched with PEFT's semantics at a bounded cost.

Patterns and names are bounded in length, compiled with the ``regex`` engine (``re``'s syntax)
and matched with a time limit, so a catastrophic pattern (``(.*)*Z``) ends as an error instead
of hanging; a pattern that does not compile is an error naming it.
"""
from __future__ import annotations

from ..errors import AdaptGraphError, FileAccessError

MAX_PATTERN = 1000  # characters of a pattern
MAX_NAME = 1000  # characters of a module path it is matched against
TIMEOUT_S = 0.25  # per match; PEFT's own patterns match in microseconds


def pattern_key(patterns, name: str, where: str, field: str,
                error: type[AdaptGraphError] = FileAccessError):
    """PEFT's ``get_pattern_key``: the first key of ``patterns`` that matches ``(.*\\.)?(key)$`` at the
    start of ``name``, or None."""
    for key in patterns:
        _check_lengths(key, name, where, f"{field}[{key[:60]!r}]", error)
        if search_bounded(rf"(.*\.)?({key})$", name, where, f"{field}[{key[:60]!r}]", error, match=True):
            return key
    return None


def search_bounded(pattern: str, name: str, where: str, field: str, error, *, match: bool = False,
                   full: bool = False) -> bool:
    """Whether ``pattern`` matches ``name`` (``re.search``, or ``re.match`` / ``re.fullmatch``), bounded in
    pattern and name length and in time; ``error`` naming ``where`` and ``field`` otherwise."""
    _check_lengths(pattern, name, where, field, error, slack=20)  # slack: pattern_key's wrapping
    compiled = compile_bounded(pattern, where, field, error)
    try:
        if full:
            return compiled.fullmatch(name, timeout=TIMEOUT_S) is not None
        return (compiled.match if match else compiled.search)(name, timeout=TIMEOUT_S) is not None
    except TimeoutError:
        raise error(f"{where}: {field} takes longer than {TIMEOUT_S} s to match {name[:80]!r} "
                    "(a pattern that backtracks catastrophically, such as (.*)*Z)",
                    hint="write the pattern without nested repetition") from None


def compile_bounded(pattern: str, where: str, field: str, error: type[AdaptGraphError] = FileAccessError):
    """``pattern`` compiled by the ``regex`` engine (``re``'s syntax); ``error`` naming ``where`` and ``field``
    when it is too long or does not compile. Every pattern a file holds is compiled up front, so an invalid
    one is refused even where no module name is matched against it (PEFT compiles it when loading)."""
    _check_lengths(pattern, "", where, field, error, slack=20)
    try:
        import regex  # transformers' own dependency (the hf extra): matching with a time limit
    except ImportError:  # pragma: no cover - installed with transformers
        raise error(f"{where}: matching {field} needs the regex package, which is not installed",
                    hint="pip install 'adaptgraph[hf]'") from None
    try:
        return regex.compile(pattern, flags=regex.VERSION0)
    except (regex.error, RecursionError, OverflowError, ValueError) as e:
        raise error(f"{where}: {field} is not a valid regular expression ({e})",
                    hint="write it as Python's re module reads it, as PEFT does") from None


def check_patterns(patterns, where: str, field: str, error: type[AdaptGraphError] = FileAccessError) -> None:
    """``compile_bounded`` for each of ``patterns`` (a str or an iterable of them)."""
    for key in [patterns] if isinstance(patterns, str) else patterns:
        compile_bounded(key, where, f"{field}[{key[:60]!r}]" if not isinstance(patterns, str) else field, error)


def _check_lengths(pattern: str, name: str, where: str, field: str, error, slack: int = 0) -> None:
    if len(pattern) > MAX_PATTERN + slack:
        raise error(f"{where}: {field} is a pattern of {len(pattern)} characters (at most {MAX_PATTERN})",
                    hint="PEFT's patterns are module names or short regular expressions")
    if len(name) > MAX_NAME:
        raise error(f"{where}: {field} would be matched against a module name of {len(name)} characters "
                    f"(at most {MAX_NAME})", hint="is the model's module tree what it should be?")
