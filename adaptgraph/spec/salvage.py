"""A best-effort copy of a spec document with its invalid fields neutralised.

When some fields fail validation, the whole-spec checks (unknown templates,
duplicates, kinds) would otherwise never run, and the user would meet those
problems one run later. Salvaging replaces each bad field with a harmless value
that keeps every other field at its path, so those checks can still run and all
problems of a file are reported together.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from pydantic import ValidationError

_PLACEHOLDER_FIELDS = {"src": "%invalid_{n}", "dst": "%invalid_{n}", "name": "invalid_{n}", "var": "invalid_{n}"}
_SKIPPED_PARTS = ("[key]",)
_ROUNDS = 3


@dataclass(frozen=True)
class Salvaged:
    """A spec validated from the neutralised document, and whether templates were removed
    (their uses would then look unknown, a problem already reported)."""

    spec: object
    templates_touched: bool


def salvage(doc: dict, validate: Callable[[dict], object]) -> Salvaged | None:
    """Neutralise the fields ``validate`` rejects (a few rounds) until it accepts; None if it never does."""
    doc, touched, n = copy.deepcopy(doc), False, 0
    for _ in range(_ROUNDS):
        try:
            return Salvaged(validate(doc), touched)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                found = _locate(doc, err["loc"])
                if found is None:
                    return None
                parent, key, depth = found
                touched |= err["loc"][0] == "templates" and depth <= 2
                _neutralise(parent, key, n)
                n += 1  # placeholders stay distinct, so they never look like duplicates
    return None


def _locate(doc: dict, loc: tuple):
    """The container and key of the deepest existing element along ``loc`` (tags and union names skipped)."""
    node, parent, key, depth = doc, None, None, 0
    for part in loc:
        if part in _SKIPPED_PARTS:
            break
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            parent, key, node = node, part, node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parent, key, node = node, part, node[part]
        else:
            continue
        depth += 1
    return None if parent is None else (parent, key, depth)


def _neutralise(parent, key, n: int) -> None:
    if isinstance(parent, list):  # a whole statement (or list entry) is bad
        parent[key] = {"var": f"invalid_{n}", "values": [0], "body": []} if isinstance(parent[key], dict) \
            else "invalid"
    elif key in _PLACEHOLDER_FIELDS:
        parent[key] = _PLACEHOLDER_FIELDS[key].format(n=n)
    else:
        parent.pop(key)
