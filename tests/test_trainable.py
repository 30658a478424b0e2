"""What trains: the spec's rule, read back the same way by training and by the adapter file."""
import torch
from torch import nn

import adaptgraph
from adaptgraph.compiler.adapter_files import read_adapter_file, save_adapters
from adaptgraph.weights.trainable import trainable_state, trained_tensors, trains, unwrap


def test_trains_adapters_and_train_modules_by_whole_path_steps():
    paths = ("encoder.layer.1",)
    assert trains("adapters.e.down.weight", paths) and trains("encoder.layer.1.norm.weight", paths)
    assert not trains("encoder.layer.10.norm.weight", paths)  # a sibling that shares the text prefix
    assert not trains("adaptersx.weight", paths) and not trains("encoder.layer.0.norm.weight", paths)


def test_unwrap_goes_through_nested_wrappers_only():
    inner = nn.Linear(2, 2)
    assert unwrap(torch.compile(nn.DataParallel(inner))) is inner
    holder = nn.Module()
    holder.module = inner  # a plain child named `module` is not a wrapper
    assert unwrap(holder) is holder


def test_the_file_and_the_training_state_hold_what_the_spec_trains(tmp_path):
    model = adaptgraph.compile(adaptgraph.loads('backbone "zoo:resnet-tiny"\nedge @1 -> @2\ntrain bn1'))
    names = set(trained_tensors(model))
    # the spec's rule over the persistent state; the adapter's constant `scale` buffer is not state
    assert names == {k for k in model.state_dict() if trains(k, ("bn1",))}
    assert {"bn1.running_mean", "bn1.num_batches_tracked", "adapters.s1__s2.up.weight"} <= names
    assert "adapters.s1__s2.scale" in dict(model.named_buffers()) and "adapters.s1__s2.scale" not in names
    save_adapters(model, tmp_path / "a.safetensors")
    assert set(read_adapter_file(tmp_path / "a.safetensors").tensors) == set(trainable_state(model)) == names
