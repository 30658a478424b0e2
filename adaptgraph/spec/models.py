"""The validated, frozen form of a spec: what the user wrote, independent of any backbone.

No torch here. Points are kept as text (``@3``, ``blocks.0.attn.in``, ``%add_2``)
because that is how users read and write them, in ``.adapt`` and YAML alike;
``spec.points`` parses them into structured references.
"""
from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal, Optional, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, ValidationInfo,
                      field_validator, model_validator)

from .edge_facts import ACTIVATIONS, SPEC_KINDS
from .points import MODULE_PATTERN_RE, check_point_text, without_hole_spaces

PATH_PATTERN = MODULE_PATTERN_RE.pattern

Act = Literal[tuple(ACTIVATIONS)]
Norm = Literal["none", "layernorm"]
Init = Literal["zero", "lora", "normal", "grad"]
Kind = Literal[SPEC_KINDS]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
# Edge names may hold ``{EXPR}`` holes inside loops (``as attn_{i}``).
EdgeName = Annotated[str, Field(pattern=r"^(?:[A-Za-z_]|\{[^{}]*\})(?:[A-Za-z0-9_]|\{[^{}]*\})*$", max_length=200)]

MAX_LOOP_VALUES = 10_000
MAX_LOOP_VALUE = 10**9
LoopValue = Annotated[int, Field(strict=True, ge=-MAX_LOOP_VALUE, le=MAX_LOOP_VALUE)]
OPTION_NAMES = ("rank", "act", "scale", "norm", "dropout", "init", "bias")


class Frozen(BaseModel):
    """Base: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Options(Frozen):
    """A partial set of adapter options; unset fields fall through to the next level."""

    rank: Optional[Annotated[int, Field(strict=True, ge=1, le=1_000_000)]] = None
    """Bottleneck width r of the adapter (integer >= 1)."""
    act: Optional[Act] = None
    """Activation between the down- and up-projection."""
    scale: Optional[Union[Literal["learn"], Annotated[float, Field(strict=True, allow_inf_nan=False)]]] = None
    """Multiplier on the adapter's output; ``learn`` makes it a learnable scalar starting at 1."""
    norm: Optional[Norm] = None
    """Normalisation applied to the source before the down-projection."""
    dropout: Optional[Annotated[float, Field(strict=True, ge=0.0, lt=1.0)]] = None
    """Dropout probability on the source, in [0, 1)."""
    init: Optional[Init] = None
    """Initialisation: ``zero`` leaves the network unchanged at the start; ``grad`` too, with the
    down-projection along the edge's gradient (set by one probed pass when training starts)."""
    bias: Optional[Annotated[bool, Field(strict=True)]] = None
    """Whether the two projections have biases."""

    def over(self, base: "Options") -> "Options":
        """These options layered on top of ``base`` (set fields win)."""
        mine = self.model_dump(exclude_none=True)
        return Options(**{**base.model_dump(exclude_none=True), **mine})

    def items(self) -> list[tuple[str, object]]:
        """The set options in canonical order."""
        return [(k, getattr(self, k)) for k in OPTION_NAMES if getattr(self, k) is not None]


BUILTIN_OPTIONS = Options(rank=8, act="none", scale=1.0, norm="none", dropout=0.0, init="zero", bias=True)


class Edge(Frozen):
    """One adapter edge ``KIND SRC -> DST [as NAME] [: TEMPLATE] [{ OPTIONS }]``."""

    kind: Kind = "edge"
    """Asserted kind; ``edge`` lets the compiler infer it from where the points sit."""
    src: Annotated[str, Field(max_length=1000)]
    """Source point: ``PATH.in``, ``PATH.out``, ``@K`` or ``%NODE``."""
    dst: Annotated[str, Field(max_length=1000)]
    """Destination point, same forms as ``src``."""
    name: Optional[EdgeName] = None
    """Name of the adapter (``as NAME``); derived from the points when absent."""
    template: Optional[Identifier] = None
    """Named option set (``adapter NAME {...}``) this edge uses."""
    options: Options = Options()
    """The edge's own options (highest precedence)."""

    @field_validator("src", "dst")
    @classmethod
    def _point_syntax(cls, v: str) -> str:
        check_point_text(v, allow_expr=True)
        return without_hole_spaces(v)

    @field_validator("name")
    @classmethod
    def _name_holes(cls, v: Optional[str]) -> Optional[str]:
        return without_hole_spaces(v) if v is not None else None


class Loop(Frozen):
    """``for VAR in A..B { ... }`` or ``for VAR in [a, b, c] { ... }``; expanded at load time."""

    var: Identifier
    """Loop variable, usable as ``{VAR}`` in paths and after ``@``."""
    start: Optional[LoopValue] = None
    """First value of an ``A..B`` range (inclusive)."""
    stop: Optional[LoopValue] = None
    """Last value of an ``A..B`` range (inclusive); not less than ``start``."""
    values: Optional[tuple[LoopValue, ...]] = None
    """Explicit list of values, instead of a range (at least one)."""
    body: tuple["Statement", ...] = ()
    """Statements repeated for each value."""

    # The range checks are field validators, not a model validator, so that their errors
    # carry the field's path (``edges[0].stop``) and the loader can point at the range.
    @field_validator("stop")
    @classmethod
    def _range_not_empty(cls, stop: Optional[int], info: ValidationInfo) -> Optional[int]:
        start = info.data.get("start")
        if stop is None or start is None:
            return stop
        if stop < start:
            raise ValueError(f"empty range {start}..{stop}: ranges count up and include both ends; "
                             f"write {stop}..{start}")
        _check_count(stop - start + 1)
        return stop

    @field_validator("values")
    @classmethod
    def _list_not_empty(cls, values: Optional[tuple[int, ...]]) -> Optional[tuple[int, ...]]:
        if values is not None and not values:
            raise ValueError("a loop over an empty list makes nothing; give at least one value")
        if values is not None:
            _check_count(len(values))
        return values

    @model_validator(mode="after")
    def _range_or_list(self) -> "Loop":
        ranged = self.start is not None or self.stop is not None
        if ranged == (self.values is not None) or (self.start is None) != (self.stop is None):
            raise ValueError("a loop has either start and stop (A..B) or values ([a, b]), not both or neither")
        return self

    def iter_values(self) -> tuple[int, ...]:
        if self.values is not None:
            return self.values
        return tuple(range(self.start, self.stop + 1))


def _check_count(n: int) -> None:
    if n > MAX_LOOP_VALUES:
        raise ValueError(f"a loop over {n} values is too long (at most {MAX_LOOP_VALUES})")


def statement_tag(v) -> str:
    """Which kind of statement ``v`` is: a mapping with a loop variable is a loop."""
    return "loop" if isinstance(v, Loop) or (isinstance(v, dict) and "var" in v) else "edge"


Statement = Annotated[Union[Annotated[Edge, Tag("edge")], Annotated[Loop, Tag("loop")]], Discriminator(statement_tag)]


def _once(paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(paths))  # training a module twice means training it: keep the first


class Spec(Frozen):
    """A whole ``.adapt`` file: where adapters go, and with which options."""

    name: Optional[Identifier] = None
    """The spec's name (``spec NAME``); the file's stem when loaded from a file without one."""
    backbone: Optional[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=1000)]] = None
    """Backbone reference (``zoo:vit-tiny``, ``hf:minilm``, ...); the command line may override it."""
    defaults: Options = Options()
    """Options for every edge that does not set them."""
    templates: dict[Identifier, Options] = {}
    """Named option sets, used by edges with ``: NAME``."""
    edges: tuple[Statement, ...] = ()
    """Edges and loops, in the order written."""
    train: Annotated[tuple[Annotated[str, Field(pattern=PATH_PATTERN, max_length=1000)], ...],
                     AfterValidator(_once)] = ()
    """Backbone submodules (paths, ``*`` allowed) that are also trained."""
    stream: Optional[Annotated[str, Field(pattern=PATH_PATTERN, max_length=1000)]] = None
    """Module pattern of the repeated blocks that define stream points; detected when absent."""
    passes: Annotated[int, Field(ge=2, le=64)] = 2
    """Forward passes when recurrent edges exist."""

    # Where each field came from in the user's file (a ``SourceMap``), so that later stages
    # (binding to a backbone) can point at ``file:line:col``. Not part of the spec's value.
    _source: Optional[dict] = PrivateAttr(default=None)

    def __init__(self, /, **data) -> None:
        """A spec built from Python fails like one read from a file: ``SpecError`` (a ``ValueError``)
        listing every problem with its field path, e.g. ``edges[0].options.rank``."""
        from .build import SourceMap, validate_doc  # late import: build needs the models

        checked = validate_doc(data, SourceMap())  # raises the SpecError
        super().__init__(**{name: getattr(checked, name) for name in checked.model_fields_set})

    def __eq__(self, other: object) -> bool:  # the source positions do not make two specs differ
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # mutable containers inside (templates)

    def span(self, path: str):
        """The source position of a field path such as ``edges[2].src``, if the spec came from a file."""
        return self._source.find(path) if self._source is not None else None

    def with_source(self, source) -> "Spec":
        self._source = source
        return self

    # -- derived views -------------------------------------------------------
    def expanded(self) -> tuple[Edge, ...]:
        """Every edge with loops unrolled (globs stay patterns until a backbone resolves them)."""
        from .expand import expand_edges

        return expand_edges(self.edges)

    def options_for(self, edge: Edge) -> Options:
        """Effective options: built-ins < ``defaults`` < template < the edge's own."""
        base = self.defaults.over(BUILTIN_OPTIONS)
        if edge.template is not None:
            base = self.templates[edge.template].over(base)
        return edge.options.over(base)

    def content_hash(self) -> str:
        """Stable hash of what the spec means (expanded edges with effective options), not how it is written."""
        effective: dict = {}  # loops repeat the same (template, options): resolve each once
        edges = []
        for e in self.expanded():
            key = (e.template, e.options)
            if key not in effective:
                effective[key] = self.options_for(e).model_dump()
            edges.append([e.kind, e.src, e.dst, e.name, effective[key]])
        doc = {
            "backbone": self.backbone,
            "edges": edges,
            "train": list(self.train),
            "stream": self.stream,
            "passes": self.passes,
        }
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


Loop.model_rebuild()
Spec.model_rebuild()
