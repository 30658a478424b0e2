"""Compiled models against hand-written eager references (language.md section 4)."""
from __future__ import annotations

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone

from eager_reference import vit_with_adapters  # noqa: E402  (tests dir on sys.path via conftest)


@pytest.fixture(scope="module")
def vit():
    return load_backbone("zoo:vit-tiny")


def compiled(text, vit):
    spec = adaptgraph.loads(text)
    model = adaptgraph.compile(spec, vit)
    with torch.no_grad():  # random adapter weights: the network must change
        for p in model.adapters.parameters():
            p.normal_(0, 0.2)
    return model


def edges_of(model, names):
    return [model.adapters[n] for n in names]


CASES = {
    "sequential": ("sequential @2 -> @2", [(2, 2)], []),
    "parallel": ("parallel @3 -> @4", [(3, 4)], []),
    "longrange": ("longrange @1 -> @6", [(1, 6)], []),
    "several_into_one": ("edge @1 -> @5\nedge @5 -> @5\nedge @3 -> @5", [(1, 5), (5, 5), (3, 5)], []),
    "chained": ("edge @1 -> @3\nedge @3 -> @6\nedge @0 -> @1", [(1, 3), (3, 6), (0, 1)], []),
    "recurrent": ("recurrent @7 -> @2", [], [(7, 2)]),
    "recurrent_mixed": ("edge @2 -> @4\nrecurrent @8 -> @3\nedge @3 -> @3\nrecurrent @5 -> @3", [(2, 4), (3, 3)], [(8, 3), (5, 3)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_equals_eager_reference(vit, case):
    text, fwd, rec = CASES[case]
    model = compiled(text, vit)
    plan = model.adaptgraph.plan
    mods = {(int(e.src.name[1:]), int(e.dst.name[1:]), e.kind == "recurrent"): model.adapters[e.name]
            for e in plan.edges}
    fwd_m = [(s, d, mods[(s, d, False)]) for s, d in fwd]
    rec_m = [(s, d, m) for (s, d, r), m in mods.items() if r]
    x = vit.example_inputs[0]
    with torch.no_grad():
        want = vit_with_adapters(vit.module, x, fwd_m, rec_m, passes=plan.passes)
        got = model(x)
        base = vit.module(x)
    assert (got - base).abs().max() > 1e-3  # the adapters do something
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("passes", [2, 3])
def test_recurrent_passes(vit, passes):
    model = compiled(f"passes {passes}\nrecurrent @8 -> @1\nedge @1 -> @4", vit)
    plan = model.adaptgraph.plan
    assert plan.passes == passes
    rec = [e for e in plan.edges if e.kind == "recurrent"][0]
    fwd = [e for e in plan.edges if e.kind != "recurrent"][0]
    x = vit.example_inputs[0]
    with torch.no_grad():
        want = vit_with_adapters(vit.module, x, [(1, 4, model.adapters[fwd.name])],
                                 [(8, 1, model.adapters[rec.name])], passes=passes)
        torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)


def test_shared_prefix_runs_once_per_forward(vit):
    model = compiled("passes 3\nrecurrent @8 -> @3", vit)
    calls = {}

    def count(name):
        return lambda *_: calls.__setitem__(name, calls.get(name, 0) + 1)

    for name in ("patch_embed.proj", "blocks.0.mlp.fc1", "blocks.1.attn.qkv", "blocks.1.mlp.fc1", "blocks.3.mlp.fc1"):
        model.get_submodule(name).register_forward_hook(count(name))
    with torch.no_grad():
        model(vit.example_inputs[0])
    # @3 is block 1's attention merge: everything before it runs once, everything after it three times
    assert calls == {"patch_embed.proj": 1, "blocks.0.mlp.fc1": 1, "blocks.1.attn.qkv": 1,
                     "blocks.1.mlp.fc1": 3, "blocks.3.mlp.fc1": 3}


def test_width_change_between_points(vit):
    model = compiled("edge blocks.0.mlp.fc1.out -> @3", vit)
    e = model.adaptgraph.plan.edges[0]
    assert (e.in_features, e.out_features) == (256, 64)
    adapter = model.adapters[e.name]
    x = vit.example_inputs[0]
    hidden = {}
    hook = vit.module.blocks[0].mlp.fc1.register_forward_hook(lambda m, i, o: hidden.__setitem__("h", o))
    try:
        with torch.no_grad():
            vit.module(x)
            want = vit_with_adapters(vit.module, x, [(3, 3, lambda _: adapter(hidden["h"]))])
    finally:
        hook.remove()
    with torch.no_grad():
        torch.testing.assert_close(model(x), want, rtol=1e-5, atol=1e-5)
