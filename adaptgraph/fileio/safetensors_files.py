"""Safetensors files checked before anything is mapped: a regular file whose header is bounded,
is JSON, and declares no byte the file does not hold."""
from __future__ import annotations

import json
import os
import struct

from ..errors import AdaptGraphError, FileAccessError
from .bounds import bound_of, too_large
from .json_files import unique_keys
from .oserrors import os_failure
from .reading import _open_regular

DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}


def check_safetensors(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the safetensors file"
                      ) -> dict:
    """The file's header (a dict; ``__metadata__`` included) after checking it; ``error`` otherwise."""
    def bad(why: str) -> AdaptGraphError:
        return error(f"{os.fspath(path)}: not a safetensors file ({why})",
                     hint="the file is damaged or is not what it is named")

    with _open_regular(path, error, what) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8:
                raise bad(f"{len(head)} bytes, shorter than the 8-byte header length")
            n = struct.unpack("<Q", head)[0]
            if 8 + n > size:
                raise bad(f"the header declares {n} bytes, the file holds {size - 8} after the length")
            if n > bound_of("header"):
                raise too_large(path, "header", error)
            raw = f.read(n)
        except OSError as e:
            raise os_failure(e, path, f"cannot read {what}", error) from None
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise bad(f"the header is not JSON: {type(e).__name__}") from None
    except ValueError as e:  # a key given twice: two readers could see two different tensors
        raise bad(f"the header is not JSON a reader can trust: {e}") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    data = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            if not (entry is None or isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())):
                raise bad("its metadata is not a mapping of text to text")
            continue
        _check_entry(name, entry, data, bad)
    return header


def _check_entry(name: str, entry, data: int, bad) -> None:
    if not isinstance(entry, dict):
        raise bad(f"tensor {name[:80]!r} has no description")
    offsets, shape, dtype = entry.get("data_offsets"), entry.get("shape"), entry.get("dtype")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data):
        raise bad(f"tensor {name[:80]!r} declares bytes {offsets!r:.60} beyond the {data} the file holds")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)) or dtype not in DTYPE_BYTES:
        raise bad(f"tensor {name[:80]!r} has shape {shape!r:.60} and dtype {dtype!r:.20}")
    count = 1
    for d in shape:
        count *= d
    if count * DTYPE_BYTES[dtype] != offsets[1] - offsets[0]:
        raise bad(f"tensor {name[:80]!r}: shape {shape} of {dtype} needs {count * DTYPE_BYTES[dtype]} bytes, "
                  f"its offsets give {offsets[1] - offsets[0]}")


def load_safetensors(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the safetensors file",
                     keys=None) -> tuple[dict[str, str], dict]:
    """``(metadata, {name: tensor})`` of a checked file (``keys``: only those present); ``error`` otherwise."""
    from safetensors import SafetensorError, safe_open  # torch only where tensors are read

    check_safetensors(path, error=error, what=what)
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            names = [k for k in f.keys() if keys is None or k in keys]
            return (f.metadata() or {}), {name: f.get_tensor(name) for name in names}
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise error(f"{os.fspath(path)}: not a safetensors file ({str(e)[:200]})",
                    hint="the file is damaged or is not what it is named") from None
    except OSError as e:
        raise os_failure(e, path, f"cannot read {what}", error) from None


def open_safetensors(path, *, error: type[AdaptGraphError] = FileAccessError, what: str = "the safetensors file"):
    """A ``safe_open`` handle of a checked file, for reading some of its tensors; ``error`` otherwise."""
    from safetensors import SafetensorError, safe_open

    check_safetensors(path, error=error, what=what)
    try:
        return safe_open(os.fspath(path), framework="pt")
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise error(f"{os.fspath(path)}: not a safetensors file ({str(e)[:200]})",
                    hint="the file is damaged or is not what it is named") from None
    except OSError as e:
        raise os_failure(e, path, f"cannot read {what}", error) from None
