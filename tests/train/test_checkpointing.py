"""Activation checkpointing per block gives the same outputs and gradients as the plain compiled model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.errors import TaskError
from adaptgraph.train.checkpointing import checkpointed, segments

# every edge kind, with adapter dropout so that recomputation must replay the same random mask
SPEC = ("defaults { init = normal }\nedge @1 -> @1\nparallel @1 -> @2 { dropout = 0.5 }\n"
        "longrange @0 -> @3\nrecurrent @-1 -> @1\nedge @2 -> @-1 { act = gelu }")


def _grads(model, forward, inputs, seed=0):
    model.zero_grad(set_to_none=True)
    model.train()
    torch.manual_seed(seed)
    out = forward(*inputs)
    out.pow(2).mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("ref", ["zoo:bert-tiny", "zoo:vit-tiny", "zoo:gpt-tiny"])
def test_checkpointed_gradients_are_identical(ref):
    bb = load_backbone(ref)
    model = adaptgraph.compile(adaptgraph.loads(SPEC), bb)
    wrapped = checkpointed(model)
    plain_out, plain = _grads(model, model, bb.example_inputs)
    ckpt_out, ckpt = _grads(model, wrapped, bb.example_inputs)
    # The same kernels run on the same values in the same order (recomputation replays the
    # forward, RNG included), so on the CPU the results agree bit for bit.
    assert torch.equal(plain_out, ckpt_out)
    assert plain.keys() == ckpt.keys() and len(plain) > 0
    for name in plain:
        assert torch.equal(plain[name], ckpt[name]), name


def test_segments_follow_blocks_in_graph_order():
    model = adaptgraph.compile(adaptgraph.loads("edge @1 -> @3"), load_backbone("zoo:bert-tiny"))
    seg = segments(model.graph)
    order = [seg[n.name] for n in model.graph.nodes if n.name in seg]
    assert order == sorted(order)  # values only flow forward between segments
    assert max(order) + 1 == 4  # one segment per encoder layer of the 4-layer zoo BERT


def test_checkpointed_model_shares_the_compiled_models_parameters():
    model = adaptgraph.compile(adaptgraph.loads("defaults { init = normal }\nparallel @0 -> @1"),
                               load_backbone("zoo:vit-tiny"))
    wrapped = checkpointed(model)
    ours = {id(p) for p in model.parameters()}
    assert {id(p) for p in wrapped.parameters()} <= ours


def test_checkpointing_needs_a_graph_module():
    with pytest.raises(TaskError, match="needs a compiled model"):
        checkpointed(nn.Linear(2, 2))


def test_fit_with_checkpointing_trains_to_the_same_state():
    from adaptgraph.tasks import load_task
    from adaptgraph.train import TrainConfig, fit

    task = load_task("digits?per_class=4&size=16")
    bb = load_backbone("zoo:vit-tiny")
    states = []
    for checkpointing in (False, True):
        model = adaptgraph.compile(adaptgraph.loads("defaults { init = normal }\nparallel @0 -> @1\nedge @1 -> @3"), bb)
        config = TrainConfig(steps=3, lr=1e-2, batch_size=8, device="cpu", checkpointing=checkpointing)
        states.append(fit(model, bb, task, config, progress=False).best_state)
    # the same arithmetic in the same order (see test_checkpointed_gradients_are_identical): equal bit for bit
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpointing_does_not_change_the_configs_fingerprint():
    from adaptgraph.train import TrainConfig

    assert TrainConfig(checkpointing=True).fingerprint() == TrainConfig().fingerprint()
