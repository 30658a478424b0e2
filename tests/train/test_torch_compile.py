"""Training under torch.compile gives the eager results within float rounding and reports its compile time."""
from __future__ import annotations

import shutil

import pytest
import torch

import adaptgraph
from adaptgraph.backbones import load_backbone
from adaptgraph.cli import main
from adaptgraph.tasks import load_task
from adaptgraph.train import TrainConfig, fit

SPEC = "defaults { init = normal }\nparallel @0 -> @1\nedge @1 -> @3 { act = gelu }\n"
STEPS = 3


def _fit(**compiled):
    bb = load_backbone("zoo:vit-tiny")
    model = adaptgraph.compile(adaptgraph.loads(SPEC), bb)
    config = TrainConfig(steps=STEPS, batch_size=8, device="cpu", **compiled)
    return fit(model, bb, load_task("digits?size=16"), config, progress=False)


def _assert_same_training(eager, compiled):
    # The compiled graph computes the same float32 operations, possibly fused or reordered: each result
    # differs by a few units of float32 rounding (~1e-7 relative). Three AdamW steps of at most lr = 1e-3
    # each carry that into the weights as differences far below 1e-6 (measured: ~1e-8).
    assert compiled.log[0]["train_loss"] == pytest.approx(eager.log[0]["train_loss"], rel=1e-5)
    assert compiled.metrics["test"]["loss"] == pytest.approx(eager.metrics["test"]["loss"], rel=1e-5)
    assert eager.best_state.keys() == compiled.best_state.keys()
    for name, value in eager.best_state.items():
        torch.testing.assert_close(compiled.best_state[name], value, rtol=1e-4, atol=1e-6, msg=name)
    timing = compiled.metrics["timing"]["torch_compile"]
    assert timing["steps"] == STEPS
    assert timing["first_step_seconds"] >= timing["compile_seconds"] >= 0 and timing["median_step_seconds"] > 0
    assert "torch_compile" not in eager.metrics["timing"]


def test_graph_capture_trains_like_eager():
    """dynamo + AOTAutograd (the capture inductor compiles), without generating code: fast, no compiler."""
    _assert_same_training(_fit(), _fit(torch_compile=True, torch_compile_backend="aot_eager"))


def _c_compiler() -> str | None:
    return next((path for name in ("gcc", "cc", "clang", "g++") if (path := shutil.which(name))), None)


@pytest.mark.slow
@pytest.mark.skipif(_c_compiler() is None, reason="torch.compile's inductor backend needs a C++ compiler "
                                                  "(none of gcc, cc, clang, g++ is on PATH)")
def test_inductor_computes_like_eager():
    """What ``torch_compile=True`` runs: inductor's generated kernels, forward and backward (the smallest zoo
    model: compiling its kernels takes 20-80 s on 2 busy cores; training itself is tested above)."""
    bb = load_backbone("zoo:gpt-tiny")
    model = adaptgraph.compile(adaptgraph.loads(SPEC), bb)
    eager_out, eager = _grads(model, model, bb.example_inputs)
    compiled_out, compiled = _grads(model, torch.compile(model), bb.example_inputs)
    # Fused kernels reorder float32 sums: a few units of rounding (~1e-7) relative to the largest values.
    torch.testing.assert_close(compiled_out, eager_out, rtol=1e-4, atol=1e-5 * float(eager_out.abs().max()))
    assert eager.keys() == compiled.keys() and eager
    for name, grad in eager.items():
        torch.testing.assert_close(compiled[name], grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()), msg=name)


def _grads(model, forward, inputs):
    model.zero_grad(set_to_none=True)
    model.train()
    out = forward(*inputs)
    # a fixed projection: the mean square of a layer-normed output is ~1 whatever the input (no gradient)
    weights = torch.randn(out.shape[-1], generator=torch.Generator().manual_seed(0))
    (out @ weights).pow(2).mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_flags_reach_the_config(monkeypatch, tmp_path):
    seen = {}

    def fake_train_spec(spec, task, *, config, **kwargs):
        seen["config"] = config
        raise KeyboardInterrupt  # stop here: the flag's effect on training is tested above

    monkeypatch.setattr("adaptgraph.train.train_spec", fake_train_spec)
    main(["train", "x.adapt", "--task", "digits", "--torch-compile"])
    assert seen["config"].torch_compile is True
    assert TrainConfig().torch_compile is False
    assert TrainConfig(torch_compile=True).fingerprint() == TrainConfig().fingerprint()  # same result


def test_help_lists_the_flag(capsys):
    for command in ("train", "search"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--torch-compile" in capsys.readouterr().out
