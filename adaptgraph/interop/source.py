"""Open what export and merge start from: a run folder or an adapter file, rebuilt on its backbone."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import fx

from ..backbones import Backbone
from ..compiler import compile_info
from ..errors import AdapterFileError
from ..compiler.plan import Plan
from ..train.files import ADAPTERS_FILE
from ..compiler.adapter_files import AdapterFile, backbone_for, load_adapters, read_adapter_file
from ..weights.trainable import adapter_path


@dataclass(frozen=True, eq=False)
class Source:
    """A saved model rebuilt: the file, its backbone and the compiled model."""

    path: Path  # the adapter file
    saved: AdapterFile
    backbone: Backbone
    model: fx.GraphModule

    @property
    def plan(self) -> Plan:
        return compile_info(self.model).plan

    def adapter(self, name: str):
        return self.model.get_submodule(adapter_path(name))

    def scale(self, name: str) -> float:
        """The adapter's scale as a Python float (its learned value for ``scale = learn``)."""
        return float(self.adapter(name).scale.detach())


def open_source(source: str | Path, backbone=None, *, trust_code: bool = False) -> Source:
    """``source``: a run folder (holding adapters.safetensors) or an adapter ``.safetensors`` file."""
    path = Path(source)
    if path.is_dir():
        path = path / ADAPTERS_FILE
        if not path.is_file():
            raise AdapterFileError(f"{source} has no {ADAPTERS_FILE}: it is not a finished run folder",
                                   hint="give a run folder of `adaptgraph train` or an adapter .safetensors file")
    saved = read_adapter_file(path)
    bb = backbone_for(saved, path, backbone, trust_code=trust_code)
    return Source(path, saved, bb, load_adapters(path, bb))
