"""Edge facts: what the spec, plan, scores, selection and search all know about an adapter edge.

One home for each: the edge kinds and how a kind follows from where two points sit,
the value lists the spec, the search and the command line accept, stream-point names and path
globs, and what an adapter costs (parameters, FLOPs) from its two widths and its
options. No torch here, so the spec and the command-line parsers can import it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Options
    from .points import PointRef

# -- value lists ------------------------------------------------------------------
KINDS = ("sequential", "parallel", "longrange", "recurrent")
"""The kinds an edge has once its points are known."""
INFERRED_KIND = "edge"
"""The kind a spec writes to let adaptgraph infer it from the points."""
SPEC_KINDS = (INFERRED_KIND, *KINDS)
"""What a spec may write as an edge's kind."""
ACTIVATIONS = {"none": "Identity", "relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "tanh": "Tanh"}
"""Activation names of the language, each with the ``torch.nn`` class that computes it."""

# -- stream points and module ports --------------------------------------------------
STREAM_POINT_RE = re.compile(r"^@(?P<index>-?[0-9]+)$")
"""A stream point after loop expansion: ``@K`` (negative K counts from the end)."""
PORT_POINT_RE = re.compile(r"^(?P<path>.+)\.(?P<port>in|out)$")
"""A module port, ``PATH.in`` or ``PATH.out``."""


def stream_name(index: int) -> str:
    """The point text of stream point ``index``: ``@3``."""
    return f"@{index}"


def stream_index(name: str) -> int | None:
    """K of a stream point ``@K``, or None for any other point."""
    m = STREAM_POINT_RE.match(name)
    return int(m["index"]) if m else None


# -- kinds ----------------------------------------------------------------------------
def edge_kind(src: str, dst: str, src_order: int, dst_order: int) -> str:
    """The kind of edge ``src -> dst`` from the points' names and topological orders.

    Same value: sequential. ``@K -> @K+1`` or ``PATH.in -> PATH.out``: parallel.
    Otherwise forward edges are long-range and backward edges recurrent.
    """
    if src == dst or src_order == dst_order:
        return "sequential"
    a, b = stream_index(src), stream_index(dst)
    if a is not None and b is not None and b == a + 1:
        return "parallel"
    if module_of_ports(src, dst) is not None:
        return "parallel"
    return "longrange" if src_order < dst_order else "recurrent"


def module_of_ports(src: str, dst: str) -> str | None:
    """M when ``src -> dst`` is ``M.in -> M.out`` (a module's input to its own output), else None."""
    s, d = PORT_POINT_RE.match(src), PORT_POINT_RE.match(dst)
    if s and d and s["path"] == d["path"] and (s["port"], d["port"]) == ("in", "out"):
        return s["path"]
    return None


_PORT_ORDER = {"in": 0, "out": 1}  # a module's input comes before its output


def fitting_kind(src: "PointRef", dst: "PointRef") -> str | None:
    """The kind two parsed points make when it is known without a backbone (stream points
    counted from the same end, or two ports of one module); else None."""
    if src == dst:
        return "sequential"
    if src.kind == dst.kind == "stream" and (src.index < 0) == (dst.index < 0):
        return edge_kind(str(src), str(dst), src.index, dst.index)
    if src.kind == dst.kind == "port" and src.path == dst.path:
        return edge_kind(str(src), str(dst), _PORT_ORDER[src.port], _PORT_ORDER[dst.port])
    return None


# -- path globs: ``*`` stands for exactly one dotted path segment, ``**`` for one or more ---
# (``parallel **.query``: every module whose path ends in ``.query``, at any depth, as PEFT's
# ``target_modules=["query"]``).
GLOB_SEGMENTS = {"*": "[^.]+", "**": r"[^.]+(?:\.[^.]+)*"}


def has_glob(text: str) -> bool:
    return any(seg in GLOB_SEGMENTS for seg in text.split("."))


def glob_regex(text: str, shared: bool) -> re.Pattern:
    """A regex for ``text``; with ``shared``, every wildcard must match the same text (group ``seg``)."""
    parts = []
    seen = False
    for segment in text.split("."):
        if segment not in GLOB_SEGMENTS:
            parts.append(re.escape(segment))
        elif shared and seen:
            parts.append("(?P=seg)")
        else:
            body = GLOB_SEGMENTS[segment]
            parts.append(f"(?P<seg>{body})" if shared else body)
            seen = True
    return re.compile(r"\.".join(parts))


def bind_glob(text: str, value: str) -> str:
    """``text`` with every ``*`` / ``**`` segment replaced by ``value``."""
    return ".".join(value if seg in GLOB_SEGMENTS else seg for seg in text.split("."))


def natural_key(value: str) -> tuple:
    """Sort ``"10"`` after ``"9"``, also inside dotted values (``layer.10.x`` after ``layer.9.x``)."""
    return tuple((0, int(seg), "") if seg.isdigit() else (1, 0, seg) for seg in value.split("."))


# -- cost -------------------------------------------------------------------------------
# The cost of the one adapter a spec builds (adapters.LowRankAdapter; tests/compile/test_adapter_cost.py
# checks it against the module): the plan, the scores, the budgets and the search all count through these.
# Plain arithmetic, so the widths may also be numpy arrays (a whole matrix of candidate edges).
def adapter_parameters(in_features, out_features, options: "Options"):
    """Trainable parameters of one adapter ``up(act(down(norm(S))))`` with rank r: the two
    projections r * (in + out), their biases r + out, a layer norm 2 * in, a learned scale 1."""
    r = options.rank
    n = r * (in_features + out_features)
    if options.bias:
        n = n + r + out_features
    if options.norm == "layernorm":
        n = n + 2 * in_features
    if options.scale == "learn":
        n = n + 1
    return n


def adapter_flops(in_features: int, out_features: int, options: "Options", positions: int) -> int:
    """Multiply-accumulates x 2 of one adapter call on one example with ``positions`` tokens/pixels."""
    return 2 * positions * options.rank * (in_features + out_features)
