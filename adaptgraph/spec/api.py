"""The spec API, in the style of the ``json`` module: ``loads``, ``load``, ``dumps``, ``dump``."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from ..arguments import check_instance, check_path
from ..errors import ArgumentError, Problem, SpecError, SpecSyntaxError
from ..fileio import write_text_atomic
from .build import build_spec
from .files import normalise_text, read_source, warn_bidi
from .formats import from_data_text, to_data_text
from .limits import printed_size_problem
from .models import Spec
from .printer import dumps as _dumps
from .syntax import parse_tree
from .transform import ToRecords

YAML_SUFFIXES = (".yaml", ".yml")


MAX_SHOWN_PROBLEMS = 50


def _capped(fn):
    """Keep an error readable: the first problems of a file, and how many more there are."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as e:
            if len(e.problems) <= MAX_SHOWN_PROBLEMS:
                raise
            rest = len(e.problems) - MAX_SHOWN_PROBLEMS
            more = Problem(f"... and {rest} more problem{'s' * (rest != 1)} not shown", hint="fix these first")
            raise type(e)(problems=[*e.problems[:MAX_SHOWN_PROBLEMS], more]) from None
    return wrapper


@_capped
def loads(text: str, path: str | None = None) -> Spec:
    """Parse ``.adapt`` text; ``path`` names the file in errors and gives the default spec name."""
    file = str(path) if path is not None else "<string>"
    if not isinstance(text, str):
        raise SpecError(f"{file}: expected text (str), got {type(text).__name__}")
    text = normalise_text(text, file)
    tree, syntax_problems = parse_tree(text, file)
    if tree is None:
        raise SpecSyntaxError(problems=syntax_problems)
    records = ToRecords(text, file).transform(tree)
    spec = build_spec(records, file, default_name(path), syntax_problems)
    too_big = printed_size_problem(_dumps(spec), file)  # `train` in loops prints a path per value
    if too_big is not None:
        raise SpecError(problems=[too_big])
    return spec


@_capped
def load(path: str | Path) -> Spec:
    """Load a spec from ``.adapt``, ``.adapt.yaml``/``.yml`` or ``.json``."""
    path = Path(check_path(path, "path"))
    text = read_source(path)
    if path.suffix in YAML_SUFFIXES or path.suffix == ".json":
        warn_bidi(text, str(path))
        return from_data_text(text, str(path), "json" if path.suffix == ".json" else "yaml")
    return loads(text, path)


def dumps(spec: Spec, expand: bool = False, format: str = "adapt") -> str:
    """Canonical text of ``spec`` as ``adapt``, ``yaml`` or ``json``."""
    check_instance(spec, (Spec,), "spec", "a Spec (from load, loads or Spec(...))")
    if format not in ("adapt", "yaml", "json"):
        raise ArgumentError(f"format must be 'adapt', 'yaml' or 'json', not {format!r:.40}")
    if format == "adapt":
        return _dumps(spec, expand=expand)
    return to_data_text(spec, format, expand=expand)


def dump(spec: Spec, path: str | Path, expand: bool = False, *, follow_link: bool = False) -> None:
    """Write ``spec`` atomically, in the format its suffix names; never through a link, unless
    ``follow_link`` (a file the user names): then the file the link names is replaced."""
    check_instance(spec, (Spec,), "spec", "a Spec (from load, loads or Spec(...))")
    path = Path(check_path(path, "path"))
    fmt = "json" if path.suffix == ".json" else "yaml" if path.suffix in YAML_SUFFIXES else "adapt"
    write_text_atomic(path, dumps(spec, expand=expand, format=fmt), follow_link=follow_link)


def default_name(path) -> str | None:
    """The spec name a file gets when it has no ``spec`` statement: its stem, made an identifier."""
    if path is None:
        return None
    stem = Path(str(path)).name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not name or name[0].isdigit():
        name = "_" + name
    return name[:200]
