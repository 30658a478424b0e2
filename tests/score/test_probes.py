"""Probed G_ij = H_i^T Delta_j equals the gradient of an explicitly inserted zero-initialised dense adapter.

Forward edges (i <= j) get the adapter by an fx rewrite; recurrent edges (i > j) by a
hand-written two-pass run (pass 2 adds W h_i(pass 1) at j).
"""
import copy
import itertools
import operator

import pytest
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from adaptgraph.errors import ScoreError
from adaptgraph.score.metrics import default_rtol, numerical_rank
from adaptgraph.score.pairwise import pair_spectra
from adaptgraph.score.probes import probe, tokens_by_features


# -- tiny backbones -----------------------------------------------------------
class Attn(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        return self.proj(a @ v)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), Attn(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyViT(nn.Module):
    """Pre-norm transformer on (B, T, D) tokens; the last value is modified in place."""

    def __init__(self, d=12, depth=2):
        super().__init__()
        self.embed = nn.Linear(5, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(depth))

    def forward(self, x):
        x = self.embed(x)
        for b in self.blocks:
            x = b(x)
        return F.relu(x, inplace=True)  # in place on the last stream point


class WidthNet(nn.Module):
    """Token tensors whose width changes between points."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 9), nn.Linear(9, 9), nn.Linear(9, 6)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        h = h + torch.tanh(self.b(h))
        return self.c(h)


class ConvNet(nn.Module):
    """NCHW maps (features on dim 1), an in-place ReLU on a probed value."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1), nn.Conv2d(6, 8, 1)

    def forward(self, x):
        h = self.c1(x)
        y = F.relu(h, inplace=True)
        y = y + self.c2(y)
        return self.c3(y)


# -- the reference: an explicit dense adapter ------------------------------------
class Dense(nn.Module):
    """Zero-initialised dense map from the features of one point to those of another."""

    def __init__(self, d_in, d_out, fd_in, fd_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d_out, d_in))
        self.fd_in, self.fd_out = fd_in, fd_out

    def forward(self, h):
        y = h.movedim(self.fd_in, -1) @ self.weight.T
        return y.movedim(-1, self.fd_out)


def with_dense_adapter(gm, src, dst, adapter):
    """fx rewrite: ``dst' = dst + adapter(src)``, every later use of dst reads dst'."""
    gm = copy.deepcopy(gm)
    gm.add_submodule("dense_adapter", adapter)
    nodes = {n.name: n for n in gm.graph.nodes}
    s, t = nodes[src], nodes[dst]
    with gm.graph.inserting_after(s):  # reads the source as it is produced
        a = gm.graph.call_module("dense_adapter", (s,))
    with gm.graph.inserting_after(t if t is not s else a):
        merged = gm.graph.call_function(operator.add, (t, a))
    t.replace_all_uses_with(merged, delete_user_cb=lambda u: u is not merged and u is not a)
    gm.graph.lint()
    gm.recompile()
    return gm


class TwoPass(nn.Module):
    """Hand-written recurrent network: pass 1 computes h_src, pass 2 adds W h_src at dst."""

    def __init__(self, gm, src, dst, adapter):
        super().__init__()
        self.gm, self.src, self.dst, self.adapter = gm, src, dst, adapter

    def forward(self, *inputs):
        seen = {}

        class Record(fx.Interpreter):
            def run_node(inner, n):
                out = super().run_node(n)
                if n.name == self.src:
                    seen["h"] = out.clone()
                return out

        class AddAtDst(fx.Interpreter):
            def run_node(inner, n):
                out = super().run_node(n)
                return out + self.adapter(seen["h"]) if n.name == self.dst else out

        Record(self.gm).run(*inputs)
        return AddAtDst(self.gm).run(*inputs)


def adapter_gradient(gm, src, dst, inputs, loss_fn, widths, fds):
    i, j = src[0], dst[0]
    adapter = Dense(widths[i], widths[j], fds[i], fds[j])
    order = {n.name: k for k, n in enumerate(gm.graph.nodes)}
    if order[dst[1]] >= order[src[1]]:
        net = with_dense_adapter(gm, src[1], dst[1], adapter)
    else:
        net = TwoPass(gm, src[1], dst[1], adapter)
    before = gm(*[x.clone() for x in inputs])
    out = net(*[x.clone() for x in inputs])
    assert torch.allclose(out, before, atol=1e-6)  # zero init: network unchanged
    loss_fn(out).backward()
    return adapter.weight.grad.T.double()  # nn.Linear layout is (out, in); G is (in, out)


def check_all_edges(model, inputs, loss_fn, nodes, fds, pairs=None):
    gm = fx.symbolic_trace(model)
    probed = probe(gm, nodes, tuple(x.clone() for x in inputs), loss_fn, fds)
    widths = [h.shape[1] for h in probed.activations]
    spectra = pair_spectra(probed.activations, probed.gradients)
    pairs = pairs or list(itertools.product(range(len(nodes)), repeat=2))
    for i, j in pairs:
        g = probed.activations[i].double().T @ probed.gradients[j].double()
        ref = adapter_gradient(gm, (i, nodes[i]), (j, nodes[j]), inputs, loss_fn, widths, probed.feature_dims)
        rel = float((g - ref).norm() / ref.norm())
        assert ref.norm() > 0 and rel < 1e-5, (nodes[i], nodes[j], rel)
        tol = default_rtol(widths[i], widths[j])
        assert numerical_rank(spectra.values[i][j], tol) == int(torch.linalg.matrix_rank(ref, rtol=tol)), (i, j)
    return probed


def cls_loss(head, labels):
    return lambda out: F.cross_entropy(head(out[:, 0]), labels)


def test_every_edge_of_a_tiny_transformer_matches_dense_adapter_gradient():
    torch.manual_seed(0)
    model = TinyViT().eval().requires_grad_(False)  # frozen backbone
    nodes = ["embed", "add", "add_1", "add_2", "add_3"]  # the 2L + 1 stream points
    inputs = (torch.randn(3, 4, 5),)
    probed = check_all_edges(model, inputs, cls_loss(nn.Linear(12, 4), torch.tensor([0, 2, 1])), nodes, -1)
    # the last point is relu'd in place afterwards: H is its value before that
    assert (probed.activations[-1] < 0).any()
    # the head reads token 0 only: the last point's gradient lives on 3 of 12 rows
    assert (probed.gradients[-1].abs().sum(1) > 0).sum() == 3


def test_points_of_different_widths():
    torch.manual_seed(1)
    head = nn.Linear(6, 3)
    loss = lambda out: F.cross_entropy(head(out.mean(1)), torch.tensor([2, 0]))
    check_all_edges(WidthNet(), (torch.randn(2, 7, 4),), loss, ["a", "tanh", "add", "c"], -1)


def test_nchw_points_with_in_place_relu():
    torch.manual_seed(2)
    head = nn.Linear(8, 3)
    loss = lambda out: F.cross_entropy(head(out.mean((2, 3))), torch.tensor([1, 2]))
    inputs = (torch.randn(2, 3, 5, 5),)
    probed = check_all_edges(ConvNet(), inputs, loss, ["c1", "add", "c3"], 1,
                             pairs=[(0, 0), (0, 1), (1, 2), (2, 0), (1, 0), (2, 2)])
    assert probed.shapes[0] == (2, 6, 5, 5) and probed.activations[0].shape == (50, 6)
    assert (probed.activations[0] < 0).any()  # recorded before the in-place relu


def test_tokens_by_features_layouts():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(tokens_by_features(x, -1), x.reshape(6, 4))
    y = torch.arange(36.0).reshape(1, 4, 3, 3)
    assert torch.equal(tokens_by_features(y, 1)[4], y[0, :, 1, 1])


def test_probing_leaves_model_and_grads_untouched():
    torch.manual_seed(3)
    model = WidthNet()
    gm = fx.symbolic_trace(model)
    x = torch.randn(2, 3, 4)
    before = gm(x)
    probed = probe(gm, ["add", "add"], (x,), lambda o: o.sum())
    assert all(p.grad is None for p in gm.parameters())
    assert torch.equal(gm(x), before) and torch.equal(probed.gradients[0], probed.gradients[1])


def test_probe_errors_are_score_errors():
    gm = fx.symbolic_trace(WidthNet())
    x = torch.randn(2, 3, 4)
    with pytest.raises(ScoreError, match="graph has no node named 'ad'") as e:
        probe(gm, ["ad"], (x,), lambda o: o.sum())
    assert "did you mean 'add' or 'a'?" in str(e.value)
    with pytest.raises(ScoreError, match="must return a scalar tensor, got \\(2, 3, 6\\)"):
        probe(gm, ["add"], (x,), lambda o: o)
    with pytest.raises(ScoreError, match="does not depend on any probed point"):
        probe(gm, ["add"], (x,), lambda o: torch.tensor(1.0))
    with pytest.raises(ScoreError, match="2 feature dims for 1 points"):
        probe(gm, ["add"], (x,), lambda o: o.sum(), [-1, 1])


# -- the same check on zoo backbones, a sample of edges of every kind ------------
@pytest.mark.parametrize("ref", ["zoo:vit-tiny", "zoo:bert-tiny", "zoo:resnet-tiny"])
def test_zoo_backbone_edges_match_dense_adapter_gradient(ref):
    from adaptgraph.backbones import load_backbone
    from adaptgraph.graph import stream_points, trace

    bb = load_backbone(ref)
    traced = trace(bb.module, bb.example_inputs, frontend=bb.frontend, leaf_modules=bb.leaf_modules)
    gm = traced.gm.requires_grad_(False)
    pts = stream_points(traced)
    torch.manual_seed(0)
    width = pts[-1].shape[pts[-1].feature_dim]
    head, labels = nn.Linear(width, 3), torch.tensor([0, 2])
    if pts[-1].feature_dim == 1:
        loss = lambda out: F.cross_entropy(head(out.mean((2, 3))), labels)
    else:
        loss = lambda out: F.cross_entropy(head(out.mean(1)), labels)
    inputs = (torch.randn(2, 3, 16, 16),) if ref == "zoo:resnet-tiny" else bb.example_inputs  # smaller: faster
    probed = probe(gm, [p.node for p in pts], inputs, loss, [p.feature_dim for p in pts])
    widths = [h.shape[1] for h in probed.activations]
    last = len(pts) - 1 if pts[-1].shape == pts[0].shape else 2  # resnet: stay inside the first stage
    edges = {"sequential": (1, 1), "parallel": (0, 1), "longrange": (0, last), "recurrent": (last, 1)}
    for kind, (i, j) in edges.items():
        g = probed.activations[i].double().T @ probed.gradients[j].double()
        ref_g = adapter_gradient(gm, (i, pts[i].node), (j, pts[j].node), inputs, loss, widths,
                                 probed.feature_dims)
        rel = float((g - ref_g).norm() / ref_g.norm())
        assert rel < 1e-5, (ref, kind, rel)
        tol = default_rtol(widths[i], widths[j])
        got = numerical_rank(torch.linalg.svdvals(g), tol)
        assert got == int(torch.linalg.matrix_rank(ref_g, rtol=tol)), (ref, kind)
