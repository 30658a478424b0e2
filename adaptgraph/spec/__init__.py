"""The spec layer: the `.adapt` language, validated specs, canonical printing. No torch here."""
from .api import dump, dumps, load, loads
from .models import BUILTIN_OPTIONS, Edge, Loop, Options, Spec
from .points import PointRef, parse_point

__all__ = ["BUILTIN_OPTIONS", "Edge", "Loop", "Options", "PointRef", "Spec", "dump", "dumps", "load", "loads",
           "parse_point"]
