import json

import pytest
import torch
from train_fixtures import synthetic_rows, write_csv

from adaptgraph.errors import TaskError
from adaptgraph.tasks import SplitTask, load_task
from adaptgraph.tasks.base import split_sizes

SPLITS = ("train", "validation", "test")


def sizes(task):
    return [len(task.examples(s)) for s in SPLITS]


def refusal(ref) -> str:
    """The message of the TaskError that loading ``ref`` raises."""
    with pytest.raises(TaskError) as e:
        load_task(ref)
    return str(e.value)


def test_csv_seeded_split_is_disjoint_stratified_and_stable(tmp_path):
    path = write_csv(tmp_path / "d.csv", synthetic_rows(40) + [("cat", "animal"), ("cat", "animal")])
    task = load_task(f"csv:{path}", seed=3)
    assert task.class_names == ("animal", "food", "tool") and task.modality == "text"
    texts = [t for s in SPLITS for t, _ in task.examples(s)]
    assert len(texts) == len(set(texts))
    for split in SPLITS:
        counts = [sum(1 for _, y in task.examples(split) if y == c) for c in range(3)]
        assert max(counts) - min(counts) <= 1, (split, counts)
    assert task.examples("test") == load_task(f"csv:{path}", seed=3).examples("test")
    assert task.examples("test") != load_task(f"csv:{path}", seed=4).examples("test")


def test_csv_field_options_and_split_files(tmp_path):
    header = ("sentence", "y")
    main = write_csv(tmp_path / "train.csv", synthetic_rows(10, seed=0), header)
    val = write_csv(tmp_path / "val.csv", synthetic_rows(2, seed=1), header)
    test = write_csv(tmp_path / "test.csv", synthetic_rows(3, seed=2), header)
    task = load_task(f"csv:{main}?text=sentence&label=y&validation={val}&test={test}")
    assert sizes(task) == [30, 6, 9]
    assert task.examples("validation")[0][1] == 0
    only_val = load_task(f"csv:{main}?text=sentence&label=y&validation={val}")
    assert sizes(only_val)[1] == 6 and sum(sizes(only_val)) == len(set(synthetic_rows(10))) + 6


def test_jsonl_with_numeric_labels(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"body": f"text {i}", "cls": i % 12}) for i in range(120)]
    path.write_text("\n".join(lines) + "\n\n")
    task = load_task(f"jsonl:{path}?text=body&label=cls")
    assert task.class_names == tuple(str(i) for i in range(12))  # numeric order, not 0, 1, 10, 11, 2
    assert sizes(task) == [96, 12, 12]
    assert all(int(task.class_names[y]) == int(t.split()[1]) % 12 for t, y in task.examples("train"))


def test_missing_file(tmp_path):
    assert refusal(f"csv:{tmp_path}/none.csv") == (
        f"error: data file not found: {tmp_path}/none.csv\n"
        "    hint: check the path (relative to the current directory)")


def test_missing_label_column_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", synthetic_rows(3), ("sentence", "y"))
    assert refusal(f"csv:{path}?text=sentence") == (
        f"error: {path}: no label column 'label'; the columns are sentence, y\n"
        "    hint: name the label column with ?label=NAME")


def test_missing_jsonl_key_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    assert refusal(f"jsonl:{path}") == (f"error: {path}:2: no label key 'label'; the keys are text\n"
                                        "    hint: name the label key with ?label=NAME")


def test_bad_json_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{oops\n')
    assert refusal(f"jsonl:{path}") == (
        f"error: {path}:2: not valid JSON (Expecting property name enclosed in double quotes)")


def test_label_unknown_to_the_training_file(tmp_path):
    main = write_csv(tmp_path / "train.csv", [("a", "x"), ("b", "y")])
    test = write_csv(tmp_path / "test.csv", [("c", "z")])
    assert refusal(f"csv:{main}?test={test}") == (f"error: {test}: label 'z' does not occur in the training file\n"
                                                  "    hint: the training labels are x, y")


def test_reference_errors():
    assert refusal("wordnett:noun") == ("error: unknown task provider 'wordnett' in 'wordnett:noun'\n"
                                        "    hint: did you mean 'wordnet'?")
    assert refusal("csv:x.csv?lable=y") == (
        "error: unknown option 'lable' for csv tasks (options: text, text2, label, validation, test, per_class, "
        "split)\n    hint: did you mean 'label'?")
    assert refusal("digits?per_class=0") == (
        "error: option per_class=0 of task 'digits?per_class=0' must be an integer >= 1")
    assert refusal("digits?split=80/20") == (
        "error: option split=80/20 of task 'digits?split=80/20' must be three proportions TRAIN/VALIDATION/TEST\n"
        "    hint: for example split=80/10/10; train must be > 0")
    assert refusal("digits?size=4&size=5") == "error: option 'size' is given twice in task 'digits?size=4&size=5'"


def test_digits():
    task = load_task("digits?per_class=50")
    assert task.modality == "image" and task.num_classes == 10
    assert sizes(task) == [400, 50, 50]
    image, label = task.examples("train")[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32 and 0 <= float(image.min())
    assert float(image.max()) <= 1.0 and 0 <= label < 10
    big = load_task("digits?size=16&per_class=5")
    assert big.examples("test")[0][0].shape == (1, 16, 16)
    keys = [x.numpy().tobytes() for s in SPLITS for x, _ in task.examples(s)]
    assert len(keys) == len(set(keys))
    assert load_task("digits", seed=1).fingerprint() != load_task("digits", seed=2).fingerprint()


def test_split_sizes():
    assert split_sizes(10, (0.8, 0.1, 0.1)) == (8, 1, 1)
    assert split_sizes(3, (0.8, 0.1, 0.1)) == (1, 1, 1)
    assert split_sizes(2, (0.8, 0.1, 0.1)) == (2, 0, 0)
    assert split_sizes(10, (0.9, 0.0, 0.1)) == (9, 0, 1)


def test_own_task_passes_through_and_bad_split_is_named():
    task = SplitTask("mine", ("a", "b"), "text", ((("x", 0),), (("y", 1),), ()))
    assert load_task(task) is task
    with pytest.raises(TaskError) as e:
        task.examples("valid")
    assert str(e.value) == "error: unknown split 'valid'\n    hint: did you mean 'validation'?"
    assert refusal(object()) == ("error: object is not a task: it lacks name, num_classes, class_names, modality, "
                                 "examples, fingerprint\n    hint: see adaptgraph.tasks.Task for the protocol")
