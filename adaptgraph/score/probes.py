"""Activations H and loss gradients Delta at chosen points, from ONE forward and ONE backward pass.

The graph is run unmodified by an ``fx.Interpreter``. At each probed node the value v
is replaced, for everything downstream, by ``v + z`` where ``z`` is a zero tensor that
requires grad: exactly the output of a zero-initialised adapter writing into that
point. Then dLoss/dz = dLoss/dv summed over ALL downstream uses of v, the value is
unchanged, and gradients keep flowing through v to earlier points. (Replacing v by a
detached leaf would also give dLoss/dv, but would cut the graph there, so every
earlier point would lose the gradient paths that pass through v.) It also works when
nothing upstream requires grad (frozen backbone, integer inputs).

The activation is recorded as a copy taken when the node runs, so an in-place op
later in the graph (``relu_``, ``x += y``) cannot change it; the gradient is with
respect to that same produced value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import torch
import torch.fx as fx

from adaptgraph.errors import ScoreError, did_you_mean


@dataclass(frozen=True)
class Probed:
    """What one probed forward/backward pass saw at each point (in the order asked)."""

    nodes: tuple[str, ...]
    """fx node name of each point."""
    activations: tuple[torch.Tensor, ...]
    """H per point: tokens x features (detached)."""
    gradients: tuple[torch.Tensor, ...]
    """Delta per point: dLoss/dvalue, tokens x features (detached)."""
    shapes: tuple[tuple[int, ...], ...]
    """Shape of each point's value before flattening."""
    feature_dims: tuple[int, ...]
    """Which dimension of the value holds the features (-1: tokens, 1: NCHW)."""
    loss: float
    """The loss of this pass."""


def tokens_by_features(x: torch.Tensor, feature_dim: int) -> torch.Tensor:
    """Flatten a value to (tokens, features): every position other than ``feature_dim`` is a token."""
    if x.dim() == 0:
        raise ScoreError("cannot score a scalar value: a point needs a feature dimension")
    fd = feature_dim % x.dim()
    return x.movedim(fd, -1).reshape(-1, x.shape[fd])


class _ProbeInterpreter(fx.Interpreter):
    """Runs the graph, recording values of the probed nodes and adding a zero leaf to each."""

    def __init__(self, gm: fx.GraphModule, nodes: Sequence[str]):
        super().__init__(gm)
        self.wanted = set(nodes)
        self.values: dict[str, torch.Tensor] = {}
        self.zeros: dict[str, torch.Tensor] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name not in self.wanted:
            return out
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            kind = type(out).__name__ if not isinstance(out, torch.Tensor) else f"{out.dtype} tensor"
            raise ScoreError(f"point node {n.name!r} produces a {kind}, not a floating-point tensor",
                             hint="probe a node whose value is a float tensor (a module output or a getitem of it)")
        self.values[n.name] = out.detach().clone()  # later in-place ops must not change H
        zero = torch.zeros_like(out, requires_grad=True)
        self.zeros[n.name] = zero
        return out + zero


def probe(gm: fx.GraphModule, nodes: Sequence[str], inputs: tuple,
          loss_fn: Callable[[Any], torch.Tensor], feature_dims: Union[int, Sequence[int]] = -1) -> Probed:
    """One forward and one backward pass of ``gm`` with H and Delta recorded at ``nodes``.

    ``loss_fn`` maps the graph's output to a scalar loss. ``feature_dims`` is one int for
    all points or one per point (-1 for (B, T, D) token tensors, 1 for NCHW maps).
    The graph and its parameters are not modified and no parameter ``.grad`` is written.
    """
    nodes = list(nodes)
    dims = _feature_dims(feature_dims, len(nodes))
    _check_nodes(gm, nodes)
    interp = _ProbeInterpreter(gm, nodes)
    with torch.enable_grad():
        out = interp.run(*inputs)
        loss = _scalar_loss(loss_fn(out))
        unique = list(dict.fromkeys(nodes))
        grads = torch.autograd.grad(loss, [interp.zeros[n] for n in unique], allow_unused=True)
    by_node = {n: (g if g is not None else torch.zeros_like(interp.zeros[n])) for n, g in zip(unique, grads)}
    return Probed(
        nodes=tuple(nodes),
        activations=tuple(tokens_by_features(interp.values[n], fd) for n, fd in zip(nodes, dims)),
        gradients=tuple(tokens_by_features(by_node[n].detach(), fd) for n, fd in zip(nodes, dims)),
        shapes=tuple(tuple(interp.values[n].shape) for n in nodes),
        feature_dims=tuple(dims),
        loss=float(loss.detach()),
    )


def _feature_dims(feature_dims: Union[int, Sequence[int]], n: int) -> list[int]:
    if isinstance(feature_dims, int):
        return [feature_dims] * n
    dims = [int(d) for d in feature_dims]
    if len(dims) != n:
        raise ScoreError(f"got {len(dims)} feature dims for {n} points; give one per point or a single int")
    return dims


def _check_nodes(gm: fx.GraphModule, nodes: Sequence[str]) -> None:
    if not nodes:
        raise ScoreError("no points to probe: give at least one node name")
    names = [n.name for n in gm.graph.nodes]
    known = set(names)
    for name in nodes:
        if name not in known:
            raise ScoreError(f"graph has no node named {name!r}", hint=did_you_mean(name, names))


def _scalar_loss(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ScoreError(f"the loss function must return a scalar tensor, got {shape}",
                         hint="reduce the loss, e.g. with .mean()")
    if not loss.requires_grad:
        raise ScoreError("the loss does not depend on any probed point (it needs no gradient)",
                         hint="probe points that lie between the inputs and the output used by the loss")
    return loss.reshape(())
