"""``init = grad`` (adapters/grad_init.py): the network is unchanged at step 0, and the first step of
each adapter follows the best rank-r approximation of its edge's dense gradient, for every edge kind."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import adaptgraph
from adaptgraph.adapters import LowRankAdapter
from adaptgraph.adapters.grad_init import ROW_NORM, init_from_gradients, pending
from adaptgraph.backbones import load_backbone
from adaptgraph.spec.models import Options

# float32 forward/backward: products of length <= 4 * 64 carry relative errors of about
# 256 * 6e-8 = 1.5e-5 at most; the cosines below are ratios of such products
COS_TOL = 1e-4
# The down rows come from a float64 SVD (orthonormal to ~1e-15) rounded to float32; d @ d.T in float32
# over d_in terms is then off by at most about (d_in + 2) * u * ROW_NORM^2: 3e-7 for d_in = 12 (atol
# 1e-6 below) and about 5e-6 for the ViT's widths up to 256 (atol 1e-5).


def first_step(model, loss_of, name):
    """The change of ``up.weight @ down.weight`` after one SGD step of size 1 from the current state."""
    a = model.adapters[name] if hasattr(model, "adapters") else model.adapter
    a.zero_grad()
    loss_of().backward()
    return -(a.up.weight.grad @ a.down.weight).detach().double()  # up = 0, so only up moves the product


def cosine(a, b):
    return float((a * b).sum() / (a.norm() * b.norm()))


def best_cosine(g):
    """cos(G_r, G) = ||s_1..r|| / ||s||: the best any rank-r update can do (Eckart-Young)."""
    return lambda r: float(torch.linalg.svdvals(g)[:r].norm() / torch.linalg.svdvals(g).norm())


class TwoPoints(torch.nn.Module):
    """h1 = tanh(A x) + adapter(x); out = B h1: a long-range edge from the input to h1."""

    def __init__(self, init="zero"):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a, self.b = torch.nn.Linear(12, 10), torch.nn.Linear(10, 5)
        self.adapter = LowRankAdapter(12, 10, Options(rank=3, act="none", scale=1.0, norm="none", dropout=0.0,
                                                      init="zero", bias=True))
        self.adapter.init = init
        self.requires_grad_(False)
        self.adapter.requires_grad_(True)
        self.x, self.y = torch.randn(7, 4, 12, generator=g), torch.randint(0, 5, (7,), generator=g)

    def forward(self, x, extra=None):
        h1 = torch.tanh(self.a(x)) + self.adapter(x)
        if extra is not None:
            h1 = h1 + extra
        return self.b(h1).mean(1)


def test_hand_made_edge_is_unchanged_and_aligned_with_the_dense_gradient():
    model = TwoPoints(init="grad")
    model.a.eval()
    loss_of = lambda: F.cross_entropy(model(model.x), model.y)  # noqa: E731
    before = model(model.x).detach()
    spectra = init_from_gradients(model, loss_of)
    assert list(spectra) == ["adapter"] and not pending(model)
    assert model.training and not model.a.training  # each module's mode as it was (a: set to eval above)
    assert torch.equal(model(model.x), before)  # up = 0: exactly the same output
    d = model.adapter.down.weight.detach()
    torch.testing.assert_close(d @ d.T, ROW_NORM ** 2 * torch.eye(3), rtol=0, atol=1e-6)
    # the dense gradient of a zero map x -> h1, by autograd on an added zero
    z = torch.zeros(7, 4, 10, requires_grad=True)
    F.cross_entropy(model(model.x, extra=z), model.y).backward()
    dense = (model.x.reshape(-1, 12).double().T @ z.grad.reshape(-1, 10).double()).T  # d_out x d_in, = dL/dW
    step = first_step(model, loss_of, "adapter")
    assert cosine(step, -dense) == pytest.approx(best_cosine(dense)(3), abs=COS_TOL)
    torch.testing.assert_close(spectra["adapter"], torch.linalg.svdvals(dense), rtol=1e-5, atol=1e-9)
    zero = TwoPoints(init="zero")  # default init: the same first step, projected on random directions
    zero_step = first_step(zero, lambda: F.cross_entropy(zero(zero.x), zero.y), "adapter")
    assert cosine(zero_step, -dense) < best_cosine(dense)(3) - 0.05


@pytest.fixture(scope="module")
def vit():
    return load_backbone("zoo:vit-tiny")


KINDS = {"sequential": (2, 2), "parallel": (3, 4), "longrange": (1, 6), "recurrent": (7, 2)}


def vit_loss(vit, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = vit.example_inputs[0]
    head = torch.randn(64, 5, generator=g) / 8
    labels = torch.randint(0, 5, (x.shape[0],), generator=g)
    return lambda model: F.cross_entropy(model(x).mean(1) @ head, labels)


def test_every_edge_kind_is_unchanged_at_step_0_and_follows_its_dense_gradient(vit):
    text = "\n".join(f"edge @{i} -> @{j} as {k} {{ init = grad, rank = 4 }}" for k, (i, j) in KINDS.items())
    model = adaptgraph.compile(adaptgraph.loads(text), vit)
    loss = vit_loss(vit)
    x = vit.example_inputs[0]
    with torch.no_grad():
        base = vit.module(x)
    spectra = init_from_gradients(model, lambda: loss(model))
    assert sorted(spectra) == sorted(f"adapters.{k}" for k in KINDS)
    with torch.no_grad():
        assert torch.equal(model(x), base)
    assert {e.name: e.kind for e in model.adaptgraph.plan.edges} == {k: k for k in KINDS}
    for kind, (i, j) in KINDS.items():
        dense_model = adaptgraph.compile(adaptgraph.loads(f"edge @{i} -> @{j} as e {{ rank = 64 }}"), vit)
        with torch.no_grad():  # down = identity: up's gradient is that of a dense zero map W_ij
            dense_model.adapters["e"].down.weight.copy_(torch.eye(64))
        loss(dense_model).backward()
        dense = dense_model.adapters["e"].up.weight.grad.double()
        step = first_step(model, lambda: loss(model), kind)
        assert cosine(step, -dense) == pytest.approx(best_cosine(dense)(4), abs=COS_TOL), kind
        assert best_cosine(dense)(4) > 0.2, kind  # a real alignment, not a degenerate one


def test_fit_runs_the_gradient_pass_before_the_first_step(vit):
    from adaptgraph.tasks import load_task
    from adaptgraph.train import TrainConfig, fit

    model = adaptgraph.compile(adaptgraph.loads("recurrent @7 -> @2 as e { init = grad, rank = 4 }"), vit)
    assert list(pending(model)) == ["adapters.e"]
    # lr 1e-9: one step moves nothing measurably, so down is still the initialisation fit gave it
    fit(model, vit, load_task("digits?per_class=4"), TrainConfig(steps=1, lr=1e-9, batch_size=4, device="cpu"),
        progress=False)
    assert not pending(model)
    d = model.adapters["e"].down.weight.detach()
    torch.testing.assert_close(d @ d.T, ROW_NORM ** 2 * torch.eye(4), rtol=0, atol=1e-5)


def test_loaded_weights_are_not_replaced_by_the_gradient_pass(vit):
    text = "longrange @1 -> @6 as e { init = grad, rank = 4 }\nedge @2 -> @3 as other { init = grad }"
    trained = adaptgraph.compile(adaptgraph.loads(text), vit)
    reloaded = adaptgraph.compile(adaptgraph.loads(text), vit)
    state = {k: v for k, v in trained.state_dict().items() if k.startswith("adapters.e.")}
    reloaded.load_state_dict(state, strict=False)  # only e's weights: `other` still waits for its gradient pass
    assert list(pending(reloaded)) == ["adapters.other"]
