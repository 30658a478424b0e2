"""The one door for every file adaptgraph reads or writes.

Reads (``reading``): only regular files (a FIFO or a device is refused before anything blocks),
at most a documented bound per kind of file (``bounds``), decoded and parsed with errors that
name the file. Writes (``writing``): atomic (temporary file beside the target, fsync, rename),
never through a link, never over something that is not a regular file. Folders (``folders``):
an output is never an input, inside one or around one, compared on resolved paths, and a
replaced folder is swapped in only once complete. Whatever the operating system refuses
becomes a one-line ``FileAccessError`` naming the path and the reason (``oserrors``).

``tests/security/test_file_door.py::test_no_direct_file_calls_outside_the_door`` checks that
the rest of the package goes through here.
"""
from __future__ import annotations

from .bounds import BOUNDS, bound_of
from .folders import check_outputs, staged_folder
from .json_files import parse_json, read_json, read_model, validate_model
from .oserrors import describe_os_error, os_failure
from .reading import is_regular_file, read_bytes, read_text
from .torch_files import check_torch_file, load_torch
from .writing import (append_line, copy_file, open_appender, refuse_input, remove_file, truncate_file,
                      write_bytes_atomic, write_text_atomic)

__all__ = ["BOUNDS", "append_line", "bound_of", "check_outputs", "check_torch_file", "copy_file",
           "describe_os_error", "is_regular_file", "load_torch", "open_appender", "os_failure", "parse_json",
           "read_bytes", "read_json", "read_model", "read_text", "refuse_input", "remove_file",
           "staged_folder", "truncate_file", "validate_model", "write_bytes_atomic", "write_text_atomic"]
