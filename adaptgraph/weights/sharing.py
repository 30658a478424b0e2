"""Share a backbone's weights instead of copying them.

A traced graph and every model compiled from it hold their own module objects (so that
freezing, ``eval()``, ``to()`` or a rewrite of one never reaches the caller's module or
another model), but their frozen parameters and buffers are views of the backbone's own
storage: N compiled specs cost the backbone once plus N sets of adapters.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Iterator

import torch
from torch import nn


def share_weights(module: nn.Module) -> nn.Module:
    """A structural copy of ``module`` whose tensors share storage with ``module``'s.

    Modules, parameters and buffers are new Python objects (a parameter keeps its
    ``requires_grad``; tied weights stay tied), each over the same memory as the original
    (``data_ptr`` is equal). Writing into one in place writes into the other: only what is
    replaced by ``own_copy`` may be trained.
    """
    memo: dict[int, object] = {}
    for m in module.modules():
        for name, p in m._parameters.items():
            if p is not None and id(p) not in memo:
                memo[id(p)] = nn.Parameter(p.detach(), requires_grad=p.requires_grad)
        for t in [*m._buffers.values(), *m.__dict__.values()]:  # buffers and plain tensor attributes
            if isinstance(t, torch.Tensor) and id(t) not in memo:
                memo[id(t)] = t.detach()
    with warnings.catch_warnings():  # torch's own pytree deprecation, raised while copying exported graphs
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        return copy.deepcopy(module, memo)


def own_copy(module: nn.Module, prefixes: tuple[str, ...]) -> int:
    """Give the parameters and buffers of submodules at ``prefixes`` their own memory; return how many.

    For backbone modules a spec trains (``train`` statements): training them must not
    change the shared backbone. A parameter tied to one outside ``prefixes`` (the same object) is
    replaced there too, so tied weights stay one tensor.
    """
    copied, fresh = 0, {}
    for path, m in module.named_modules():
        if not any(path == p or path.startswith(p + ".") for p in prefixes):
            continue
        for name, p in list(m._parameters.items()):
            if p is not None:
                if id(p) not in fresh:  # the old parameter is kept in the value, so its id is not reused
                    fresh[id(p)] = (p, nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad))
                    copied += 1
                m._parameters[name] = fresh[id(p)][1]
        for name, b in list(m._buffers.items()):
            if b is not None:
                m._buffers[name] = b.detach().clone()
                copied += 1
    for m in module.modules():  # a tied parameter outside ``prefixes`` (an embedding and its head) stays tied
        for name, p in list(m._parameters.items()):
            if p is not None and id(p) in fresh and fresh[id(p)][0] is p:
                m._parameters[name] = fresh[id(p)][1]
    return copied


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode and give every submodule its own training flag back afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training
