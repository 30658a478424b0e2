"""``csv:PATH`` and ``jsonl:PATH``: text classification from your own files.

Options (all optional):

- ``text=FIELD`` (default ``text``) and ``label=FIELD`` (default ``label``):
  the column (CSV header) or key (JSON object) holding the text and the label;
- ``validation=PATH`` and ``test=PATH``: files of the same format holding those
  splits; a split without its own file is carved out of PATH by a seeded,
  stratified split (``split=A/B/C`` proportions, default 80/10/10);
- ``per_class=N``: keep at most N examples of each class of PATH.

Paths are relative to the current directory. Labels may be any strings (or
JSON numbers); class names are the distinct labels of PATH, sorted (numerically
when all are integers). A seeded split first collapses repeated texts and drops
texts that appear with different labels, so no text is in two splits.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import TaskError
from .base import SPLITS, Example, SplitTask, dedupe, stratified_split
from .refs import TaskRef, check_options, int_option, split_fractions

TABULAR_OPTIONS = ("text", "label", "validation", "test")

Row = tuple[str, str]  # (text, label as written)


def read_csv_rows(path: Path, text_field: str, label_field: str) -> list[Row]:
    """``(text, label)`` of every row of a CSV file with a header line."""
    with open(_existing(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        _check_fields(path, columns, (text_field, label_field), "column")
        return [(row[text_field] or "", (row[label_field] or "").strip()) for row in reader]


def read_jsonl_rows(path: Path, text_field: str, label_field: str) -> list[Row]:
    """``(text, label)`` of every non-empty line of a JSON-lines file."""
    rows = []
    with open(_existing(path), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise TaskError(f"{path}:{number}: expected a JSON object, found {type(obj).__name__}")
            _check_fields(path, list(obj), (text_field, label_field), "key", number)
            rows.append((str(obj[text_field]), str(obj[label_field]).strip()))
    return rows


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise TaskError(f"data file not found: {path}", hint="check the path (relative to the current directory)")
    return path


def _check_fields(path: Path, present: list[str], wanted: tuple[str, str], what: str, line: int = 0) -> None:
    for name, option in zip(wanted, ("text", "label")):
        if name not in present:
            where = f"{path}:{line}" if line else str(path)
            raise TaskError(f"{where}: no {option} {what} '{name}'; the {what}s are {', '.join(present) or '(none)'}",
                            hint=f"name the {option} {what} with ?{option}=NAME")


def ordered_labels(labels: set[str]) -> tuple[str, ...]:
    """Distinct labels sorted, numerically when every label is an integer."""
    if all(_is_int(lab) for lab in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def label_rows(rows: list[Row], classes: tuple[str, ...], path: Path) -> list[Example]:
    """Rows with labels turned into class indices; TaskError for a label the training file lacks."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({lab for _, lab in rows if lab not in index})
    if unknown:
        raise TaskError(f"{path}: label '{unknown[0]}' does not occur in the training file",
                        hint=f"the training labels are {', '.join(classes)}")
    return [(text, index[lab]) for text, lab in rows]


def load_tabular(ref: TaskRef, seed: int) -> SplitTask:
    """Build the task a ``csv:`` or ``jsonl:`` reference describes."""
    check_options(ref, TABULAR_OPTIONS)
    if not ref.body:
        raise TaskError(f"task '{ref.text}' names no file", hint=f"write {ref.provider}:PATH")
    read = read_csv_rows if ref.provider == "csv" else read_jsonl_rows
    fields = (ref.get("text", "text"), ref.get("label", "label"))
    main = Path(ref.body)
    rows = read(main, *fields)
    classes = ordered_labels({lab for _, lab in rows})
    if not classes:
        raise TaskError(f"{main}: the file holds no examples")
    given = {s: Path(ref.get(s)) for s in ("validation", "test") if ref.get(s)}
    held = {s: tuple(label_rows(read(p, *fields), classes, p)) for s, p in given.items()}
    fractions = split_fractions(ref)
    fractions = (fractions[0],) + tuple(0.0 if s in held else fractions[i + 1] for i, s in enumerate(SPLITS[1:]))
    per_class = int_option(ref, "per_class", None)
    examples = label_rows(rows, classes, main)
    if len(held) < 2:
        examples, _ = dedupe(examples, key=lambda t: t)
    train, val, test = stratified_split(examples, classes, seed, _renormalised(fractions), per_class)
    splits = (train, held.get("validation", val), held.get("test", test))
    return SplitTask(ref.canonical(), classes, "text", splits, seed)


def _renormalised(fractions: tuple[float, ...]) -> tuple[float, float, float]:
    total = sum(fractions)
    return tuple(f / total for f in fractions)  # type: ignore[return-value]

