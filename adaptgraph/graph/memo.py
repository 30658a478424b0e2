"""Remember ports and stream points per graph: a plan resolves hundreds of points on one graph."""
from __future__ import annotations

from typing import Callable, TypeVar
from weakref import WeakKeyDictionary

from torch import fx

T = TypeVar("T")
_MEMO: WeakKeyDictionary = WeakKeyDictionary()  # gm -> (fingerprint, {key: value})


def memoized(gm: fx.GraphModule, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``gm`` and ``key``; recomputed when the graph's nodes change."""
    fingerprint = (id(gm.graph), tuple((n.name, n.op) for n in gm.graph.nodes))
    entry = _MEMO.get(gm)
    if entry is None or entry[0] != fingerprint:
        entry = (fingerprint, {})
        _MEMO[gm] = entry
    if key not in entry[1]:
        entry[1][key] = compute()
    return entry[1][key]
