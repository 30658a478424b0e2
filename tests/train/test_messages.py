"""Exact text of the remaining errors a user can cause."""
import pytest
from torch import nn
from train_fixtures import TEXT_BACKBONE, TinyTextModel, write_csv

from adaptgraph.errors import TaskError
from adaptgraph.tasks import SplitTask, TaskHead, load_task
from adaptgraph.train import TrainConfig, fit
from adaptgraph.train.state import load_trainable_state


@pytest.mark.parametrize("ref,message", [
    ("digits?size", "error: cannot read the options 'size' of task 'digits?size'\n"
                    "    hint: write options as ?key=value&key=value"),
    ("wordnet:", "error: task 'wordnet:' names no classes\n"
                 "    hint: write wordnet:noun, wordnet:all or a list such as wordnet:noun.animal,noun.food"),
    ("csv:", "error: task 'csv:' names no file\n    hint: write csv:PATH"),
    ("digits:big", "error: task 'digits:big' takes no ':big' part\n    hint: write digits or digits?size=N"),
    ("digits?size=4", "error: option size=4 of task 'digits?size=4' must be an integer >= 8 and <= 256"),
    ("digits?size=100000", "error: option size=100000 of task 'digits?size=100000' must be an integer >= 8 "
                           "and <= 256"),  # 1,797 images of 100000^2 floats would be 71 TB
    ("digits?split=80/nan/10", "error: option split=80/nan/10 of task 'digits?split=80/nan/10' must be three "
                               "proportions TRAIN/VALIDATION/TEST\n    hint: for example split=80/10/10; train must be > 0"),
    ("wordnet:noun?text=x", "error: unknown option 'text' for wordnet tasks (options: per_class, split)"),
])
def test_reference_messages(ref, message):
    with pytest.raises(TaskError) as e:
        load_task(ref)
    assert str(e.value) == message


def test_file_content_messages(tmp_path):
    empty = write_csv(tmp_path / "empty.csv", [])
    with pytest.raises(TaskError) as e:
        load_task(f"csv:{empty}")
    assert str(e.value) == f"error: {empty}: the file holds no examples"
    listed = tmp_path / "list.jsonl"
    listed.write_text("[1, 2]\n")
    with pytest.raises(TaskError) as e:
        load_task(f"jsonl:{listed}")
    assert str(e.value) == f"error: {listed}:1: expected a JSON object, found list"


def test_fit_messages():
    config = TrainConfig(epochs=1, device="cpu")
    no_train = SplitTask("empty", ("a", "b"), "text", ((), (("x", 0),), ()))
    with pytest.raises(TaskError) as e:
        fit(TinyTextModel(), TEXT_BACKBONE, no_train, config)
    assert str(e.value) == "error: split 'train' of task 'empty' has no examples"
    task = SplitTask("two", ("a", "b"), "text", ((("x y", 0), ("z", 1)), (), ()))
    with pytest.raises(TaskError) as e:
        fit(TinyTextModel(), TEXT_BACKBONE, task, config, head=TaskHead(16, 3))
    assert str(e.value) == "error: the head has 3 classes but task 'two' has 2"
    bad = SplitTask("bad", ("a", "b"), "text", ((("x", 0), ("y", 2)), (), ()))
    with pytest.raises(TaskError) as e:
        fit(TinyTextModel(), TEXT_BACKBONE, bad, config)
    assert str(e.value) == ("error: example 1 of split 'train' of task 'bad' has label 2; "
                            "labels must be integers in 0..1")


def test_state_with_parameters_the_model_does_not_train():
    model = TinyTextModel()
    state = {n: p.detach().clone() for n, p in model.named_parameters()}  # includes the frozen embedding
    with pytest.raises(TaskError) as e:
        load_trainable_state(model, state)
    assert str(e.value) == ("error: the saved state does not fit the model: it has embed.weight, which the model "
                            "does not train\n    hint: load the state into the model it was trained with "
                            "(same spec and backbone)")
    load_trainable_state(nn.Identity(), {})  # nothing to load is fine
