"""Ordinary bad data files: each gives one TaskError naming the file and line, never a traceback
or a silently wrong task (a class "", a text "None", a one-class task, an empty split)."""
from __future__ import annotations

import json

import pytest

from adaptgraph.cli import main
from adaptgraph.errors import TaskError
from adaptgraph.tasks import load_task

GOOD_ROWS = [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(30)]


def _csv(tmp_path, body: str | bytes, name: str = "d.csv"):
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return path


def _jsonl(tmp_path, lines: list[str]):
    return _csv(tmp_path, "\n".join(lines) + "\n", "d.jsonl")


def _good_csv_lines() -> str:
    return "".join(f"{t},{y}\n" for t, y in GOOD_ROWS)


def _error(ref: str) -> str:
    with pytest.raises(TaskError) as err:
        load_task(ref)
    return str(err.value)


def test_utf8_csv_with_a_byte_order_mark_loads(tmp_path):
    path = _csv(tmp_path, b"\xef\xbb\xbftext,label\n" + _good_csv_lines().encode())
    task = load_task(f"csv:{path}")
    assert task.class_names == ("neg", "pos") and sum(len(task.examples(s)) for s in ("train", "validation", "test")) == 30


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_bytes_that_are_not_utf8_name_the_line(tmp_path, fmt):
    if fmt == "csv":
        path = _csv(tmp_path, b"text,label\nfine,a\ncaf\xe9,b\n")
    else:
        path = _csv(tmp_path, b'{"text": "fine", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n', "d.jsonl")
    assert _error(f"{fmt}:{path}") == (
        f"error: {path}:3: the file is not UTF-8 text (byte 0xe9)\n" if fmt == "csv" else
        f"error: {path}:2: the file is not UTF-8 text (byte 0xe9)\n") + \
        "    hint: save it as UTF-8 (in Excel: CSV UTF-8); data files are read as UTF-8"


def test_csv_field_over_the_limit_is_a_clear_error(tmp_path):
    path = _csv(tmp_path, "text,label\n" + _good_csv_lines() + "x" * 140_000 + ",pos\n")
    message = _error(f"csv:{path}")
    assert message.startswith(f"error: {path}:32: not valid CSV (field larger than field limit (131072))\n")
    assert "shorten it" in message


def test_deeply_nested_json_line(tmp_path):
    path = _jsonl(tmp_path, ['{"text": "a", "label": "x"}', '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"])
    assert _error(f"jsonl:{path}").startswith(f"error: {path}:2: the JSON value nests too deeply\n")


@pytest.mark.parametrize("line,message", [
    ('{"text": null, "label": "a"}', "the text 'text' is null"),
    ('{"text": "t", "label": null}', "the label 'label' is null"),
    ('{"text": "t", "label": ""}', "the label 'label' is empty"),
    ('{"text": "t", "label": "   "}', "the label 'label' is empty"),
    ('{"text": "t", "label": 1.5}', "the label 'label' is a number; it must be text or an integer"),
    ('{"text": "t", "label": true}', "the label 'label' is true or false; it must be text or an integer"),
    ('{"text": 7, "label": "a"}', "the text 'text' is a number; it must be text"),
    ('{"text": ["t"], "label": "a"}', "the text 'text' is a list; it must be text"),
    ('{"text": "t"}', "no label key 'label'; the keys are text"),
])
def test_jsonl_values_are_checked_not_stringified(tmp_path, line, message):
    path = _jsonl(tmp_path, ['{"text": "fine", "label": "a"}', line])
    assert _error(f"jsonl:{path}").splitlines()[0] == f"error: {path}:2: {message}"


def test_csv_rows_without_a_label_or_with_an_empty_one(tmp_path):
    short = _csv(tmp_path, "text,label\n" + _good_csv_lines() + "no label here\n")
    assert _error(f"csv:{short}").splitlines()[0] == (
        f"error: {short}:32: the label 'label' is missing (the row has fewer fields than the header)")
    empty = _csv(tmp_path, "text,label\n" + _good_csv_lines() + "empty label,\n", "e.csv")
    assert _error(f"csv:{empty}").splitlines()[0] == f"error: {empty}:32: the label 'label' is empty"


def test_one_class_is_not_a_task(tmp_path):
    path = _csv(tmp_path, "text,label\n" + "".join(f"t{i},same\n" for i in range(20)))
    assert _error(f"csv:{path}") == (
        f"error: {path}: every example has the label 'same'; a classification task needs at least two classes\n"
        "    hint: is the label column right? name it with ?label=NAME")


def test_labels_that_look_numeric_sort_or_fail_cleanly(tmp_path):
    path = _csv(tmp_path, "text,label\n" + "".join(f"t{i},{'²' if i % 2 else '10'}\n" for i in range(20)))
    assert load_task(f"csv:{path}").class_names == ("10", "²")  # not numbers: sorted as text, no crash
    path = _csv(tmp_path, "text,label\n" + "".join(f"t{i},{10 if i % 2 else 9}\n" for i in range(20)), "n.csv")
    assert load_task(f"csv:{path}").class_names == ("9", "10")


def test_a_split_left_empty_is_an_error_unless_asked_for(tmp_path):
    path = _csv(tmp_path, "text,label\n" + _good_csv_lines())
    assert _error(f"csv:{path}?per_class=2") == (
        "error: the validation split is empty: 30 examples (per_class=2) are too few for its share of 10%\n"
        "    hint: give more examples (a class needs 3 to reach every split), a larger share (split=A/B/C; "
        "0 for no such split), or, for csv:/jsonl:, its own file (?validation=PATH)")
    task = load_task(f"csv:{path}?split=90/10/0")
    assert task.examples("test") == [] and task.examples("validation")
    assert _error("digits?per_class=1").startswith("error: the validation split is empty")


def test_cli_exit_code_for_a_bad_data_file(tmp_path, capsys):
    spec = tmp_path / "probe.adapt"
    spec.write_text('backbone "zoo:bert-tiny"\n')
    data = _csv(tmp_path, b"text,label\nfine,a\ncaf\xe9,b\n")
    assert main(["train", str(spec), "--task", f"csv:{data}", "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{data}:3: the file is not UTF-8 text" in err and "internal error" not in err


def test_jsonl_numbers_as_labels_still_work(tmp_path):
    path = _jsonl(tmp_path, [json.dumps({"text": t, "label": i % 3}) for i, (t, _) in enumerate(GOOD_ROWS)])
    assert load_task(f"jsonl:{path}").class_names == ("0", "1", "2")


@pytest.mark.parametrize("option", ["per_class=abc", "per_class=²", "per_class=1e3", "per_class=" + "9" * 40])
def test_numbers_in_task_options_are_ascii_integers(tmp_path, option):
    path = _csv(tmp_path, "text,label\n" + _good_csv_lines())
    key, value = option.split("=")
    assert _error(f"csv:{path}?{option}") == (
        f"error: option {key}={value} of task 'csv:{path}?{option}' must be an integer >= 1")


@pytest.mark.parametrize("column", ["label", "text"])
def test_a_csv_header_naming_a_wanted_column_twice_is_refused(tmp_path, column):
    # "text,label,label" trained on the first label column and "text,text,label" on the first text
    # column, silently: which one was meant? As a JSON key given twice, it is refused.
    header = "text,label,label" if column == "label" else "text,text,label"
    path = _csv(tmp_path, header + "\n" + "".join(f"{t},{y},{y}\n" for t, y in GOOD_ROWS))
    assert _error(f"csv:{path}").startswith(f"error: {path}:1: the header names the {column} column '{column}' 2 times")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "lm"])
def test_a_data_file_holding_a_nul_byte_is_refused_naming_the_line(tmp_path, fmt):
    # UTF-16 without a BOM decodes as UTF-8 with a NUL after each ASCII letter: an lm: text trained on it,
    # and a CSV one reported "no label column" among columns spelled t\x00e\x00x\x00t\x00
    body = {"csv": "text,label\n" + _good_csv_lines(),
            "jsonl": "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in GOOD_ROWS),
            "lm": "\n\n".join(t for t, _ in GOOD_ROWS * 20)}[fmt]
    path = _csv(tmp_path, body.encode("utf-16-le"), f"d.{'txt' if fmt == 'lm' else fmt}")
    message = _error(f"{fmt}:{path}")
    assert message.startswith(f"error: {path}:1: the ") and "holds a NUL byte, so it is not text (UTF-16? binary?)" in message
