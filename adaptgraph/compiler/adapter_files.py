"""Save and load adapters as ``.safetensors`` (no pickle).

The file holds the trainable tensors (adapters, ``train`` modules, and any extra
tensors such as a task head under their own prefix) and, in its metadata, the
canonical spec text, the spec hash, the backbone reference and the backbone's
fingerprint (config and weights), so that ``load_adapters`` can rebuild the compiled
model from the file alone, or on the same model found elsewhere (a moved folder).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as save_bytes

from ..arguments import check_flag, check_path
from ..backbones import get_backbone
from ..backbones.identity import weights_digest
from ..errors import AdapterFileError, AdaptGraphError, ArgumentError, BackboneError
from ..fileio import write_bytes_atomic
from ..fileio.safetensors_files import load_safetensors
from ..spec import Spec, dumps, loads
from ..weights.file_checks import check_metadata, check_state, check_tensor_values
from ..weights.trainable import adapter_path, trainable_state, unwrap
from .orchestrator import compile, compile_info

FORMAT = "adaptgraph-adapters/1"


@dataclass(frozen=True)
class AdapterFile:
    spec: Spec
    backbone: str
    seed: int
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]

    def extra(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors saved under ``prefix.`` (e.g. a task head), with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


def save_adapters(model: torch.nn.Module, path: str | Path, extra: dict[str, dict[str, torch.Tensor]] | None = None,
                  metadata: dict[str, str] | None = None, follow_link: bool = False) -> None:
    """Write the model's trainable weights, spec and backbone reference to ``path`` atomically;
    ``follow_link``: ``path`` is a file the user named (``compile -o``), which may be a link whose file
    is then replaced, as ``select -o`` and ``convert -o`` do (otherwise a link is refused)."""
    check_path(path, "path")
    write_bytes_atomic(path, adapter_file_bytes(model, extra, metadata), follow_link=follow_link)


def adapter_file_bytes(model: torch.nn.Module, extra: dict[str, dict[str, torch.Tensor]] | None = None,
                       metadata: dict[str, str] | None = None) -> bytes:
    """The bytes ``save_adapters`` writes, made in memory (a search keeps its trials' weights without a
    temporary folder, so a full or missing ``TMPDIR`` cannot fail a trial)."""
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise ArgumentError("metadata must be a dict of str to str (safetensors metadata is text)")
    info = compile_info(model)
    tensors = trainable_state(model)
    for prefix, group in (extra or {}).items():
        tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in group.items()})
    meta = {**(metadata or {}), "format": FORMAT, "spec": dumps(info.spec), "spec_hash": info.spec.content_hash(),
            "backbone": info.backbone_ref, "seed": str(info.seed)}
    if FINGERPRINT_KEY not in meta:  # given by a caller that has it without loading the backbone again
        meta.update(_fingerprint_of(info.backbone_ref))
    return save_bytes(tensors, metadata=meta)


def read_adapter_file(path: str | Path, require: tuple[str, ...] = ()) -> AdapterFile:
    """The file's spec, backbone, tensors and metadata, checked (``adaptgraph.weights.file_checks``): AdapterFileError
    when it is not an adaptgraph adapter file, lacks the metadata keys in ``require``, or holds a tensor that
    cannot be a weight."""
    path = Path(path)
    # a regular file whose header is bounded and declares no byte it lacks, before anything is mapped
    meta, tensors = load_safetensors(path, error=AdapterFileError, what="the adapter file")
    if meta.get("format") != FORMAT:
        raise AdapterFileError(f"{path}: not an adaptgraph adapter file (format {meta.get('format')!r})",
                               hint="files written by `adaptgraph compile -o` or `save_adapters` can be loaded")
    check_metadata(meta, path, require)
    check_tensor_values(tensors, path)
    spec = loads(meta["spec"], f"{path}[spec]")
    return AdapterFile(spec, meta.get("backbone", ""), int(meta.get("seed", "0")), tensors, meta)


def _fingerprint_of(ref: str) -> dict[str, str]:
    """``{"backbone_fingerprint": ...}`` for a reference that loads (from the cache after a compile), else {}."""
    try:
        return {FINGERPRINT_KEY: weights_digest(get_backbone(ref))}
    except AdaptGraphError:  # e.g. "module:Net": a module passed from Python has no reference to reload
        return {}


FINGERPRINT_KEY = "backbone_fingerprint"


def load_adapters(path: str | Path, backbone=None, *, example_inputs=None, trust_code: bool = False):
    """Rebuild the compiled model saved in ``path`` (on ``backbone``, default: the saved reference).

    ``backbone`` may name the same model elsewhere (a moved ``hf:`` folder): files that hold a
    backbone fingerprint accept any backbone with the same config and weights and refuse any other.
    """
    check_path(path, "path")
    check_flag(trust_code, "trust_code")
    f = read_adapter_file(path)
    saved = f.metadata.get(FINGERPRINT_KEY)
    if isinstance(backbone, str) and f.backbone and backbone != f.backbone and not saved:
        raise AdapterFileError(f"{path} was saved for backbone {f.backbone!r}, not {backbone!r}",
                               hint=f"load it with backbone={f.backbone!r}, or retrain for {backbone!r}")
    bb = backbone_for(f, path, backbone, example_inputs, trust_code)
    if backbone is not None and not isinstance(backbone, str) and not saved and f.backbone and bb.ref != f.backbone:
        raise AdapterFileError(f"{path} was saved for backbone {f.backbone!r}, not {bb.ref!r}",
                               hint=f"load it on {f.backbone!r}, or retrain for {bb.ref!r}")
    if saved and weights_digest(bb) != saved:
        raise AdapterFileError(f"{path} was saved for another model: backbone {bb.ref!r} has fingerprint "
                               f"{weights_digest(bb)}, the file's backbone {f.backbone!r} had {saved}",
                               hint="load it on the model it was trained on: same config, same weights "
                                    "(the same folder, wherever it is now)")
    model = compile(f.spec, bb, trust_code=trust_code, seed=f.seed)
    load_weights(model, f, path)
    return model


def backbone_for(f: AdapterFile, path, backbone=None, example_inputs=None, trust_code: bool = False):
    """``backbone`` loaded, or else the file's own; a saved reference that no longer loads (a moved
    ``hf:`` folder) says how to name the new place when the file can check it by fingerprint."""
    if backbone is not None:
        return get_backbone(backbone, example_inputs, trust_code)
    try:
        return get_backbone(f.backbone, example_inputs, trust_code)
    except BackboneError as e:
        if not f.metadata.get(FINGERPRINT_KEY):
            raise
        raise AdapterFileError(f"{path}: its backbone {f.backbone!r} cannot be loaded: {e.problems[0].message}",
                               hint="if the model has moved, name its new place (backbone='hf:NEW/PATH', "
                                    "--backbone hf:NEW/PATH): the file checks by fingerprint that it is the "
                                    "same model") from None


def load_weights(model: torch.nn.Module, f: AdapterFile, path="<file>") -> None:
    """Copy the file's adapter weights into ``model``; refuse a file made for another spec."""
    info = compile_info(model)
    if f.metadata.get("spec_hash") != info.spec.content_hash():
        raise AdapterFileError(f"{path} was saved for spec {f.spec.name or '(unnamed)'} "
                               f"(hash {f.metadata.get('spec_hash')}), not for this model's spec "
                               f"{info.spec.name or '(unnamed)'} (hash {info.spec.content_hash()})",
                               hint="load it with `load_adapters(path)` to rebuild the model it belongs to")
    expected = trainable_state(model)
    mine = {k: v for k, v in f.tensors.items() if k in expected or k.startswith(adapter_path())}
    check_state(expected, mine, path)  # names, shapes and dtypes; the values were checked on reading
    unwrap(model).load_state_dict(mine, strict=False)
