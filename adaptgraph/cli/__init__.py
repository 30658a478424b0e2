"""The ``adaptgraph`` command line: the parser and its one error mapping (``parser``), the checks of
every number typed on it (``number_flags``) and the command groups (``commands/``), each a thin skin over
the Python API."""
from .parser import build_parser, main

__all__ = ["build_parser", "main"]
