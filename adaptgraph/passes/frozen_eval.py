"""A compiled model whose frozen backbone stays in eval mode, whatever mode its user sets.

``model.train()`` on a compiled model, or on any module that holds it (a wrapper, DDP),
puts only what trains in train mode: the adapters (their dropout is on) and the spec's
``train`` modules (a trainable batch norm updates its statistics). The frozen backbone
stays in eval mode: its batch-norm running statistics never drift (they share memory with
the caller's backbone) and its dropout stays off, as in ``fit``. What trains follows
``requires_grad`` at the time of the call (``adaptgraph.weights.trainable.trained_modules``), so a
module you unfreeze by hand trains after the next ``train()``. Only setting a frozen
submodule's mode yourself (``model.layer1.train()``) bypasses this.
"""
from __future__ import annotations

from torch import fx

from ..weights.trainable import trained_modules
from .properties import FROZEN, FROZEN_IN_EVAL
from .runner import Pass, PassResult


class FrozenInEval(fx.GraphModule):
    """A ``GraphModule`` whose ``train()`` leaves frozen submodules in eval mode."""

    def train(self, mode: bool = True) -> "FrozenInEval":
        super().train(False)
        if not mode:
            return self
        for _, module in trained_modules(self):
            if module is self:  # every parameter trains (unfrozen by hand): the whole model does
                return super().train(True)
            module.train()
        self.training = True
        return self


def keep_frozen_in_eval(gm: fx.GraphModule, context: object) -> PassResult:
    """Make ``gm`` (in place) a :class:`FrozenInEval`, in eval mode.

    The runner's recompile after it installs ``forward`` on the new class (so it must run under
    ``run_passes``, as the last pass or before one that recompiles)."""

    class GraphModuleImpl(FrozenInEval):  # fx's per-instance class name: a deepcopy keeps FrozenInEval
        pass

    GraphModuleImpl.__name__ = type(gm).__name__  # the name fx gave it ("GraphModule")
    gm.__class__ = GraphModuleImpl
    return PassResult(gm.eval(), True)


# Frozen first: what stays in eval is what does not train.
KEEP_FROZEN_IN_EVAL = Pass("keep_frozen_in_eval", keep_frozen_in_eval, requires=frozenset({FROZEN}),
                           ensures=frozenset({FROZEN_IN_EVAL}))
