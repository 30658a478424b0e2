"""The spec API, in the style of the ``json`` module: ``loads``, ``load``, ``dumps``, ``dump``."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from ..arguments import check_instance, check_path
from ..errors import ArgumentError, Problem, SpecError, SpecSyntaxError
from ..fileio import write_text_atomic
from .build import build_spec
from .comments import Comments, attach
from .files import normalise_text, read_source, warn_bidi
from .formats import from_data_text, to_data_text
from .yaml_comments import from_data_text_with_comments, with_yaml_comments
from .comment_keys import expanded_comments
from .limits import printed_size_problem
from .models import Spec
from .printer import dumps as _dumps
from .syntax import parse_tree_with_comments
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
    return _loads(text, path, with_comments=False)[0]


@_capped
def loads_with_comments(text: str, path: str | None = None) -> tuple[Spec, Comments]:
    """``loads``, and the text's comments attached to the elements they annotate (for ``dumps``)."""
    return _loads(text, path, with_comments=True)


def _loads(text: str, path, with_comments: bool) -> tuple[Spec, Comments]:
    file = str(path) if path is not None else "<string>"
    if not isinstance(text, str):
        raise SpecError(f"{file}: expected text (str), got {type(text).__name__}")
    text = normalise_text(text, file)
    tree, syntax_problems, comment_tokens = parse_tree_with_comments(text, file, with_comments)
    if tree is None:
        raise SpecSyntaxError(problems=syntax_problems)
    records = ToRecords(text, file).transform(tree)
    spec = build_spec(records, file, default_name(path), syntax_problems)
    too_big = printed_size_problem(_dumps(spec), file)  # `train` in loops prints a path per value
    if too_big is not None:
        raise SpecError(problems=[too_big])
    return spec, attach(comment_tokens, tree, text) if with_comments and comment_tokens else Comments()


@_capped
def load(path: str | Path) -> Spec:
    """Load a spec from ``.adapt``, ``.adapt.yaml``/``.yml`` or ``.json``."""
    path = Path(check_path(path, "path"))
    text = read_source(path)
    if path.suffix in YAML_SUFFIXES or path.suffix == ".json":
        warn_bidi(text, str(path))
        return from_data_text(text, str(path), "json" if path.suffix == ".json" else "yaml")
    return loads(text, path)


@_capped
def load_with_comments(path: str | Path) -> tuple[Spec, Comments]:
    """``load``, and the file's comments (none for JSON, which has no comments)."""
    path = Path(check_path(path, "path"))
    text = read_source(path)
    if path.suffix in YAML_SUFFIXES or path.suffix == ".json":
        warn_bidi(text, str(path))
    if path.suffix == ".json":
        return from_data_text(text, str(path), "json"), Comments()
    if path.suffix in YAML_SUFFIXES:
        return from_data_text_with_comments(text, str(path))
    return loads_with_comments(text, path)


def dumps(spec: Spec, expand: bool = False, format: str = "adapt", comments: Comments | None = None) -> str:
    """Canonical text of ``spec`` as ``adapt``, ``yaml`` or ``json``; ``comments`` (from
    ``load_with_comments``) are written with their elements in ``adapt`` and ``yaml`` (JSON has none)."""
    check_instance(spec, (Spec,), "spec", "a Spec (from load, loads or Spec(...))")
    if format not in ("adapt", "yaml", "json"):
        raise ArgumentError(f"format must be 'adapt', 'yaml' or 'json', not {format!r:.40}")
    if format == "adapt":
        return _dumps(spec, expand=expand, comments=comments)
    text = to_data_text(spec, format, expand=expand)
    if format == "yaml" and comments:
        text = with_yaml_comments(text, expanded_comments(spec, comments) if expand else comments)
    return text


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
