"""One checked reader for the user's data files (CSV with a header line, JSON lines).

Whatever a file holds, reading it gives rows of text or one ``TaskError`` that says
which file and line, what is wrong and how to fix it: bytes that are not UTF-8 (a
BOM, Excel's default, is fine), a CSV field over the csv module's limit, a JSON line
nested too deeply, a row without a value for a wanted column, a ``null``, an empty
label, a value of the wrong type. Nothing is turned silently into the text ``"None"``
or the class ``""``.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from ..errors import TaskError
from ..fileio import bound_of, read_bytes
from ..fileio.reading import refuse_nul
from ..fileio.json_files import unique_keys

CSV_FIELD_LIMIT = csv.field_size_limit()  # 128 KiB: far beyond max_length tokens of text
LABEL = "label"
UTF8_HINT = "save it as UTF-8 (in Excel: CSV UTF-8); data files are read as UTF-8"

Field = tuple[str, str]  # (what it is for: "text", "label", ...; the column or key that holds it)


def read_rows(path: Path, fmt: str, fields: Sequence[Field]) -> list[tuple[str, ...]]:
    """The values of ``fields`` on every row of a ``csv`` or ``jsonl`` file, as text, in file order.

    A label may be text or an integer (JSON); every other wanted value must be text.
    """
    text = _read_text(path)
    rows = _csv_rows(path, text, fields) if fmt == "csv" else _jsonl_rows(path, text, fields)
    missing = "missing (the row has fewer fields than the header)" if fmt == "csv" else "null"
    return [tuple(_checked(f"{path}:{line}", role, column, value, missing)
                  for (role, column), value in zip(fields, values)) for line, values in rows]


def read_jsonl_values(path: Path, fields: Sequence[Field]) -> list[tuple[int, list]]:
    """``(line number, values)`` of ``fields`` on every JSON line, in file order. Keys are checked
    (a missing one names its line), values are not: check them with :func:`text_value`."""
    return list(_jsonl_rows(path, _read_text(path), fields))


def text_value(where: str, role: str, key: str, value) -> str:
    """``value`` when it is a JSON string; TaskError naming ``where`` and ``key`` otherwise."""
    return _checked(where, role, key, value, "null")


def _read_text(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        raise TaskError(f"data file not found: {path}", hint="check the path (relative to the current directory)")
    # the whole file is held in memory (as every example is): ADAPTGRAPH_MAX_DATA_BYTES, 1 GiB by default
    raw = read_bytes(path, "data", error=TaskError, what="the data file", keep_excess=True)
    if len(raw) > bound_of("data"):
        raise TaskError(f"{path}: the data file is larger than {bound_of('data') >> 20} MiB",
                        hint="use a sample of it (per_class=N keeps that many examples of each class), "
                             "or raise the bound with ADAPTGRAPH_MAX_DATA_BYTES=BYTES")
    refuse_nul(raw, path, TaskError, "the data file", hint=UTF8_HINT)
    try:
        return raw.decode("utf-8-sig")  # Excel writes a BOM before the header
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise TaskError(f"{path}:{line}: the file is not UTF-8 text (byte 0x{raw[e.start]:02x})",
                        hint=UTF8_HINT) from None


def _csv_rows(path: Path, text: str, fields: Sequence[Field]):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None) or []
        positions = [_column(path, header, role, column) for role, column in fields]
        for row in reader:
            if row:  # the csv module gives blank lines as empty rows
                yield reader.line_num, [row[i] if i < len(row) else None for i in positions]
    except csv.Error as e:
        raise TaskError(f"{path}:{reader.line_num}: not valid CSV ({e})", hint=_csv_hint(str(e))) from None


def _csv_hint(message: str) -> str:
    if "field larger than field limit" in message:
        return (f"a field is longer than {CSV_FIELD_LIMIT} characters: texts are cut to max_length tokens "
                "anyway, so shorten it (or is a quote left open?)")
    return "check the quotes and separators on this line"


def _column(path: Path, header: list[str], role: str, column: str) -> int:
    if column not in header:
        raise TaskError(f"{path}: no {role} column '{column}'; the columns are {', '.join(header) or '(none)'}",
                        hint=f"name the {role} column with ?{role}=NAME")
    if header.count(column) > 1:  # which one holds the labels? as a JSON key given twice, refused
        raise TaskError(f"{path}:1: the header names the {role} column '{column}' {header.count(column)} times",
                        hint="give each column its own name")
    return header.index(column)


def _jsonl_rows(path: Path, text: str, fields: Sequence[Field]):
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, object_pairs_hook=unique_keys)  # a key twice: which value is the label?
        except RecursionError:
            raise TaskError(f"{path}:{line}: the JSON value nests too deeply", hint="each line is one flat "
                            "JSON object such as {\"text\": \"...\", \"label\": \"...\"}") from None
        except ValueError as e:  # JSONDecodeError, a key given twice, or an integer of thousands of digits
            raise TaskError(f"{path}:{line}: not valid JSON ({getattr(e, 'msg', e)})") from None
        if not isinstance(obj, dict):
            raise TaskError(f"{path}:{line}: expected a JSON object, found {type(obj).__name__}")
        for role, key in fields:
            if key not in obj:
                raise TaskError(f"{path}:{line}: no {role} key '{key}'; the keys are {', '.join(obj) or '(none)'}",
                                hint=f"name the {role} key with ?{role}=NAME")
        yield line, [obj[key] for _, key in fields]


def _checked(where: str, role: str, column: str, value, missing: str) -> str:
    if value is None:
        raise TaskError(f"{where}: the {role} '{column}' is {missing}",
                        hint="every row needs a value in every column it uses; remove or fix the row")
    if role == LABEL and type(value) is int:
        return str(value)
    if not isinstance(value, str):
        kind = {bool: "true or false", float: "a number", int: "a number", list: "a list", dict: "an object"}.get(
            type(value), type(value).__name__)
        allowed = "text or an integer" if role == LABEL else "text"
        raise TaskError(f"{where}: the {role} '{column}' is {kind}; it must be {allowed}",
                        hint='write it as a JSON string, e.g. "positive"')
    if role == LABEL:
        value = value.strip()
        if not value:
            raise TaskError(f"{where}: the label '{column}' is empty",
                            hint="every example needs a label; remove the row or give it one")
    return value
