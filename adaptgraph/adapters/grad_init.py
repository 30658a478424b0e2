"""``init = grad``: each down-projection along the leading singular directions of its edge's gradient.

The rule (the idea of LoRA-GA, arXiv 2407.05000, for adapters on any edge, long-range and
recurrent ones included). An adapter with ``init = grad`` is built like ``init = zero``
(``up`` and the biases zero), so the network is unchanged. ``init_from_gradients`` then runs ONE
forward and backward pass of the compiled model and, for each such adapter, forms

    G = sum over calls of X^T Delta        (d_in x d_out, float64)

with X the rows entering ``down`` (the source after the adapter's own norm) and Delta the
gradient of the loss with respect to the output of ``up``; a recurrent edge's adapter runs in
more than one pass, and the sum over its calls is the gradient of its shared weights. Since every
adapter's output is zero, G is the gradient of a dense zero-initialised map on that edge, the
probed G_ij of ``adaptgraph score`` (times ``scale``). Then

    down.weight = c U_r^T,   c = 1/sqrt(3),   up = 0,   biases 0

with U_r the top r left singular vectors of G (rows beyond d_in keep ``init = zero``'s values).
c is the expected row norm of ``nn.Linear``'s default initialisation, which ``init = zero``
keeps, so a learning rate means the same for both. The output stays unchanged at step 0
(up = 0). With ``act = none`` (the default) the first gradient of ``up`` is c G^T U_r, so one SGD
step changes the adapter's map ``up.weight @ down.weight`` by -lr c^2 G^T U_r U_r^T: the best
rank-r approximation of the dense gradient step (Eckart-Young), where ``init = zero``'s random
down gives -lr G^T D^T D, a random projection of it. With another activation the alignment is
approximate (the first gradient of ``up`` is Delta^T act(X D^T)).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import PlanError

GRAD = "grad"
ROW_NORM = 3 ** -0.5  # E||row||^2 of nn.Linear's default U(-1/sqrt(d), 1/sqrt(d)) init is d * 1/(3d)


def pending(model: nn.Module) -> dict[str, nn.Module]:
    """Adapters of ``model`` (by module name) that ask for ``init = grad`` and have not had it yet."""
    return {name: m for name, m in model.named_modules() if getattr(m, "init", None) == GRAD}


def init_from_gradients(model: nn.Module, loss_of: Callable[[], torch.Tensor]) -> dict[str, torch.Tensor]:
    """Set every pending ``init = grad`` adapter of ``model`` from one forward and backward pass.

    ``loss_of()`` runs ``model`` and returns the scalar loss; it is called once, in eval mode
    (no dropout), and no parameter's ``.grad`` is written. Returns the singular values of each
    adapter's G (descending), by module name; an empty dict when nothing was pending.
    """
    adapters = pending(model)
    if not adapters:
        return {}
    inputs: dict[str, list[torch.Tensor]] = {n: [] for n in adapters}
    outputs: dict[str, list[torch.Tensor]] = {n: [] for n in adapters}
    handles = []
    for name, m in adapters.items():
        handles.append(m.down.register_forward_pre_hook(lambda mod, args, n=name: inputs[n].append(args[0].detach())))
        handles.append(m.up.register_forward_hook(lambda mod, args, out, n=name: outputs[n].append(out)))
    modes = {m: m.training for m in model.modules()}  # restored one by one: frozen parts may sit in eval mode
    model.eval()
    try:
        with torch.enable_grad():
            loss = loss_of()
            grads = _output_grads(loss, outputs)
    finally:
        for m, mode in modes.items():
            m.training = mode
        for h in handles:
            h.remove()
    return {name: _set_down(m, inputs[name], grads[name]) for name, m in adapters.items()}


def _output_grads(loss: torch.Tensor, outputs: dict[str, list[torch.Tensor]]) -> dict[str, list[torch.Tensor]]:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise PlanError("init = grad needs a scalar loss that depends on the adapters' outputs",
                        hint="pass loss_of returning e.g. cross_entropy(head(model(x)), y)")
    flat = [(n, k) for n, outs in outputs.items() for k in range(len(outs))]
    got = torch.autograd.grad(loss, [outputs[n][k] for n, k in flat], allow_unused=True)
    grads: dict[str, list[torch.Tensor]] = {n: [] for n in outputs}
    for (n, k), g in zip(flat, got):
        grads[n].append(torch.zeros_like(outputs[n][k]) if g is None else g.detach())
    return grads


def _set_down(m: nn.Module, xs: list[torch.Tensor], ds: list[torch.Tensor]) -> torch.Tensor:
    d_in, d_out = m.down.in_features, m.up.out_features
    if not xs:
        raise PlanError("an adapter with init = grad did not run in the pass that initialises it",
                        hint="the loss must come from a forward pass of the compiled model")
    g = sum(x.reshape(-1, d_in).double().T @ d.reshape(-1, d_out).double() for x, d in zip(xs, ds))
    u, s, _ = torch.linalg.svd(g, full_matrices=True)
    rows = min(m.down.out_features, d_in)
    with torch.no_grad():
        m.down.weight[:rows].copy_((ROW_NORM * u[:, :rows].T).to(m.down.weight.dtype))
        m.up.weight.zero_()
        for bias in (m.down.bias, m.up.bias):
            if bias is not None:
                bias.zero_()
    m.init = "grad:done"
    return s
