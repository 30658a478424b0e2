"""Regular expressions from files (PEFT's ``target_modules``, ``rank_pattern``, ``alpha_pattern``),
matched with PEFT's semantics at a bounded cost.

Patterns and names are bounded in length, compiled with the ``regex`` engine (``re``'s syntax)
and matched with a time limit, so a catastrophic pattern (``(.*)*Z``) ends as an error instead
of hanging; a pattern that does not compile is an error naming it.
"""
from __future__ import annotations

import regex

from ..errors import AdaptGraphError, FileAccessError

MAX_PATTERN = 1000  # characters of a pattern
MAX_NAME = 1000  # characters of a module path it is matched against
TIMEOUT_S = 0.25  # per match; PEFT's own patterns match in microseconds


def pattern_key(patterns, name: str, where: str, field: str,
                error: type[AdaptGraphError] = FileAccessError):
    """PEFT's ``get_pattern_key``: the first key of ``patterns`` that matches ``(.*\\.)?(key)$`` at the
    start of ``name``, or None."""
    for key in patterns:
        if search_bounded(rf"(.*\.)?({key})$", name, where, f"{field}[{key[:60]!r}]", error, match=True):
            return key
    return None


def target_matches(target_modules, name: str, where: str, error: type[AdaptGraphError] = FileAccessError) -> bool:
    """PEFT's ``check_target_module_exists``: a string is a full-match regex; a list matches a name equal
    to an item or ending in ``.item``."""
    if isinstance(target_modules, str):
        return search_bounded(target_modules, name, where, "target_modules", error, full=True)
    return any(name == t or name.endswith("." + t) for t in target_modules)


def search_bounded(pattern: str, name: str, where: str, field: str, error, *, match: bool = False,
                   full: bool = False) -> bool:
    if len(pattern) > MAX_PATTERN + 20 or len(name) > MAX_NAME:
        raise error(f"{where}: {field} is a pattern of {len(pattern)} characters (at most {MAX_PATTERN}) "
                    f"or meets a name of {len(name)} (at most {MAX_NAME})", hint="PEFT's patterns are module names")
    try:
        compiled = regex.compile(pattern, flags=regex.VERSION0)
    except (regex.error, RecursionError, OverflowError) as e:
        raise error(f"{where}: {field} is not a valid regular expression ({e})",
                    hint="write it as Python's re module reads it, as PEFT does") from None
    try:
        if full:
            return compiled.fullmatch(name, timeout=TIMEOUT_S) is not None
        return (compiled.match if match else compiled.search)(name, timeout=TIMEOUT_S) is not None
    except TimeoutError:
        raise error(f"{where}: {field} takes longer than {TIMEOUT_S} s to match {name[:80]!r} "
                    "(a pattern that backtracks catastrophically, such as (.*)*Z)",
                    hint="write the pattern without nested repetition") from None
