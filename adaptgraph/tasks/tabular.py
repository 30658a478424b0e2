"""``csv:PATH`` and ``jsonl:PATH``: text classification from your own files.

Options (all optional):

- ``text=FIELD`` (default ``text``) and ``label=FIELD`` (default ``label``):
  the column (CSV header) or key (JSON object) holding the text and the label;
- ``text2=FIELD``: a second text column, for sentence-pair tasks (entailment,
  paraphrase): each input is the pair ``(text, text2)``, which the backbone's
  tokenizer puts into one sequence (with token types where the model has them);
- ``validation=PATH`` and ``test=PATH``: files of the same format holding those
  splits; a split without its own file is carved out of PATH by a seeded,
  stratified split (``split=A/B/C`` proportions, default 80/10/10);
- ``per_class=N``: keep at most N examples of each class of PATH.

Paths are relative to the current directory, read by ``data_files`` (UTF-8, every value
checked: no null, no empty label, no missing field). Labels may be any strings (or
JSON integers); class names are the distinct labels of PATH, sorted (numerically
when all are integers). A seeded split first collapses repeated texts and drops
texts that appear with different labels, so no text is in two splits.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import TaskError
from .base import SPLITS, Example, SplitTask, dedupe, stratified_split
from .data_files import read_rows
from .refs import TaskRef, check_options, int_option, split_fractions

TABULAR_OPTIONS = ("text", "text2", "label", "validation", "test")

Row = tuple[str | tuple[str, str], str]  # (text or sentence pair, label as written)


def read_csv_rows(path: Path, text_field: str, label_field: str, text2_field: str | None = None) -> list[Row]:
    """``(text, label)`` of every row of a CSV file with a header line (checked: ``data_files``)."""
    return _rows(path, "csv", text_field, label_field, text2_field)


def read_jsonl_rows(path: Path, text_field: str, label_field: str, text2_field: str | None = None) -> list[Row]:
    """``(text, label)`` of every non-empty line of a JSON-lines file (checked: ``data_files``)."""
    return _rows(path, "jsonl", text_field, label_field, text2_field)


def _rows(path: Path, fmt: str, text_field: str, label_field: str, text2_field: str | None) -> list[Row]:
    """With ``text2_field`` each text is the pair ``(text, text2)``."""
    fields = (("text", text_field), ("label", label_field)) + ((("text2", text2_field),) if text2_field else ())
    rows = read_rows(path, fmt, fields)
    return [((text, rest[0]) if rest else text, label) for text, label, *rest in rows]


def ordered_labels(labels: set[str]) -> tuple[str, ...]:
    """Distinct labels sorted, numerically when every label is an integer."""
    if all(_is_int(lab) for lab in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None


_INT = re.compile(r"-?[0-9]{1,30}")  # ASCII: '²'.isdigit() is true, and int() refuses it


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
    fields = (ref.get("text", "text"), ref.get("label", "label"), ref.get("text2"))
    main = Path(ref.body)
    rows = read(main, *fields)
    classes = ordered_labels({lab for _, lab in rows})
    if not classes:
        raise TaskError(f"{main}: the file holds no examples")
    if len(classes) < 2:
        raise TaskError(f"{main}: every example has the label '{classes[0]}'; a classification task needs at "
                        "least two classes", hint="is the label column right? name it with ?label=NAME")
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

