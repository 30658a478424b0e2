"""The spec layer: the `.adapt` language, validated specs, canonical printing. No torch here."""
from .api import dump, dumps, load, load_with_comments, loads, loads_with_comments
from .comments import Comments
from .models import BUILTIN_OPTIONS, Edge, Loop, Options, Spec
from .points import PointRef, parse_point

__all__ = ["BUILTIN_OPTIONS", "Comments", "Edge", "Loop", "Options", "PointRef", "Spec", "dump", "dumps", "load",
           "load_with_comments", "loads", "loads_with_comments", "parse_point"]
