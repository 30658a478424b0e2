"""The traced form of a backbone: an editable fx graph plus what points need from the eager module."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch


BESIDE = ("lm_head",)  # top-level module names kept beside the graph (``backbones.hf_causal``)


def beside_modules(module: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The modules of ``BESIDE`` that ``module`` holds, by path."""
    return {name: module._modules[name] for name in BESIDE if isinstance(module._modules.get(name), torch.nn.Module)}


@dataclass(frozen=True)
class Traced:
    """A backbone traced into one ``torch.fx.GraphModule``.

    ``gm(*inputs)`` returns the same single feature tensor as the eager module.
    Every node that computes a tensor carries ``meta["tensor_meta"]`` from a run on
    ``example_inputs``; nodes inside module calls carry ``meta["nn_module_stack"]``
    (both frontends record it), which is how module ports are found.
    """

    gm: torch.fx.GraphModule
    frontend: str  # "fx" or "export"
    module_paths: tuple[str, ...]  # named_modules() paths of the original module ("" excluded)
    # path -> "package.module.ClassName" of every named module, for block detection
    module_types: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    containers: tuple[str, ...] = ()  # paths of ModuleList / Sequential modules
    example_inputs: tuple = field(default=(), compare=False, hash=False)
    notes: tuple[str, ...] = ()  # what tracing had to do: automatic leaves, static shapes, ...
    auto_leaves: tuple[str, ...] = ()  # fx only: module paths made leaves because their code is untraceable
    # Modules of the backbone its forward does not call but a spec may train (a causal LM's ``lm_head``,
    # see ``BESIDE``), by path; compile adds them to a model whose spec trains them.
    beside: Mapping[str, torch.nn.Module] = field(default_factory=dict, compare=False, hash=False)

    def node(self, name: str) -> torch.fx.Node | None:
        """The graph node called ``name``, or None."""
        return _nodes_by_name(self.gm).get(name)


def _nodes_by_name(gm: torch.fx.GraphModule) -> dict[str, torch.fx.Node]:
    return {n.name: n for n in gm.graph.nodes}


def node_shape(node: torch.fx.Node) -> tuple[int, ...]:
    """The node's tensor shape on the example inputs."""
    return tuple(int(s) for s in node.meta["tensor_meta"].shape)


def class_name(qualified: object) -> str:
    """``torch.nn.modules.linear.Linear`` or the class itself -> ``Linear``."""
    if isinstance(qualified, type):
        return qualified.__name__
    return str(qualified).rsplit(".", 1)[-1]
