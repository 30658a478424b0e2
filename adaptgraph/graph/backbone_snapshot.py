"""Warm compiles without the library that built the backbone: snapshots of traced ``hf:`` backbones.

A warm trace cache spares tracing, but loading an ``hf:`` backbone still imports transformers
and builds the model (seconds), only for compile to use the traced graph and the weights.
A snapshot keeps everything else compile needs: the graph, the ``Traced`` record, the
``Backbone`` fields (example inputs, modality, input names, frontend) and, for every tensor
the graph reads, where it lies in the folder's ``.safetensors`` files (tensors found in no
file, such as position-id buffers, are kept in the snapshot itself, up to ``INLINE_LIMIT``).
A hit rebuilds the graph over tensors read with safetensors directly: no transformers import.

The key hashes the reference, the frontend asked for, the trust decision, torch's version,
adaptgraph's own backbone and graph code, transformers' installed ``__init__.py`` and every
file of the model folder by name, size and modification time (nanoseconds); a snapshot also
records the source files of the model's classes (size and time) and the shape and dtype of
each tensor it reads, all checked on a hit. A mismatch, or a snapshot that does not read,
is a miss: the backbone loads as before and the snapshot is written again.

Snapshots live in the trace cache's folder under the same rules (``trace_cache.read_entry``):
pickles, read only from a private folder this user owns, never through a link. The backbone
a hit returns has no tokenizer: it is for compiling and listing, not for training.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import torch
from torch import nn

from ..backbones import Backbone, get_backbone
from ..backbones.hf_source import hf_folder
from ..backbones.identity import remember_weights_digest, weights_digest
from ..fileio import read_bytes
from ..fileio.safetensors_files import open_safetensors
from .trace_cache import (FORMAT as TRACE_FORMAT, _constants, _lookup, cache_dir, graph_nodes, read_entry,
                          rebuild_graph, register_traced, trace_backbone, traced_fields, write_entry)
from .traced import Traced

FORMAT = 1
INLINE_LIMIT = 16 * 2**20  # bytes of tensors found in no weight file that a snapshot may hold itself
_BACKBONE_FIELDS = ("ref", "example_inputs", "modality", "input_names", "image_shape", "frontend", "leaf_modules")
_OWN_CODE = ("backbones", "graph")  # adaptgraph folders whose code shapes a backbone's graph


def load_snapshot(ref: object, frontend: str | None = None, trust_code: bool = False) -> Backbone | None:
    """The snapshot ``Backbone`` of ``ref`` (its traced graph registered for ``frontend``), or None on a miss."""
    key = snapshot_key(ref, frontend, trust_code)
    entry = read_entry(f"{key}.snapshot") if key else None
    if entry is None or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    try:
        if not all(_stat(path) == seen for path, seen in entry["sources"]):
            return None
        tensors = _read_weights(hf_folder(ref), entry["weights"])
        gm = rebuild_graph(entry, tensors.get)
        gm.eval()
        fields = entry["backbone"]
        traced = Traced(gm=gm, example_inputs=fields["example_inputs"], **entry["traced"])
        bb = Backbone(module=gm, tokenizer=None, **fields)
        remember_weights_digest(gm, entry["fingerprint"])  # what adapter files record (`compile -o`)
    except Exception:  # noqa: BLE001 - a snapshot that does not fit is a miss; the caller loads the backbone
        return None
    register_traced(bb, frontend, traced)
    return bb


def store_snapshot(ref: object, frontend: str | None = None, trust_code: bool = False) -> bool:
    """``save_snapshot`` of the backbone ``ref`` as this process loaded and traced it (for ``compile``)."""
    if snapshot_key(ref, frontend, trust_code) is None:
        return False
    bb = get_backbone(ref, trust_code=trust_code)  # both already done in this process: no second load
    return save_snapshot(bb, trace_backbone(bb, frontend), frontend, trust_code)


def save_snapshot(bb: Backbone, traced: Traced, frontend: str | None = None, trust_code: bool = False) -> bool:
    """Store what ``load_snapshot`` needs to rebuild ``traced`` for ``bb``; False when it cannot (not an
    ``hf:`` folder with safetensors weights, a graph that calls modules, too much outside the files)."""
    key = snapshot_key(bb.ref, frontend, trust_code)
    if key is None or any(n.op == "call_module" for n in traced.gm.graph.nodes):
        return False
    constants = _constants(traced.gm, bb.module)
    targets = sorted({n.target for n in traced.gm.graph.nodes if n.op == "get_attr"} - set(constants))
    weights = _locate(hf_folder(bb.ref), {t: _lookup(bb.module, t) for t in targets})
    if weights is None:
        return False
    entry = {"format": FORMAT, "key": key, "nodes": graph_nodes(traced.gm.graph), "constants": constants,
             "traced": traced_fields(traced), "weights": weights,
             "backbone": {f: getattr(bb, f) for f in _BACKBONE_FIELDS}, "fingerprint": weights_digest(bb),
             "sources": [(p, _stat(p)) for p in _class_sources(bb.module)]}
    return write_entry(f"{key}.snapshot", entry)


def snapshot_key(ref: object, frontend: str | None, trust_code: bool) -> str | None:
    """The key of ``ref``'s snapshot, or None when it cannot have one (not an ``hf:`` folder, no cache)."""
    if not isinstance(ref, str) or cache_dir() is None:
        return None
    try:
        folder = hf_folder(ref)
    except ImportError:  # hf:minilm without its package: the ordinary load says so
        return None
    if folder is None:
        return None
    h = hashlib.sha256()
    for part in (f"snapshot {FORMAT} trace {TRACE_FORMAT}", ref, str(frontend), str(bool(trust_code)),
                 torch.__version__, sys.version, _transformers_stamp(), _own_code_hash(), _folder_stamp(folder)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _locate(folder: Path, wanted: dict[str, torch.Tensor | None]) -> dict | None:
    """Per target, ``("file", name, key, shape, dtype, parameter, requires_grad)``, ``("same", target)`` for a
    tensor another target already reads, or ``("inline", tensor, ...)``; None when a target is no tensor."""
    out, seen, inline = {}, {}, 0
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    handles = [(p.name, open_safetensors(p)) for p in files]
    for target, t in wanted.items():
        if not isinstance(t, torch.Tensor):
            return None
        if id(t) in seen:
            out[target] = ("same", seen[id(t)])
            continue
        seen[id(t)] = target
        flags = (isinstance(t, nn.Parameter), t.requires_grad)
        found = _find_in_files(handles, target, t)
        if found is None:
            inline += t.numel() * t.element_size()
            if inline > INLINE_LIMIT:
                return None
            out[target] = ("inline", t.detach().clone(), *flags)
        else:
            out[target] = ("file", *found, tuple(t.shape), str(t.dtype).removeprefix("torch."), *flags)
    return out


def _find_in_files(handles, target: str, t: torch.Tensor) -> tuple[str, str] | None:
    """The (file, key) of a stored tensor equal to ``t`` whose key names the same path (up to a prefix)."""
    for name, f in handles:
        for key in f.keys():
            if not (key == target or key.endswith("." + target) or target.endswith("." + key)):
                continue
            stored = f.get_tensor(key)
            if stored.shape == t.shape and torch.equal(stored.to(t.dtype), t.detach().cpu()):
                return name, key
    return None


def _read_weights(folder: Path, weights: dict) -> dict[str, torch.Tensor]:
    handles, out = {}, {}
    for target, (kind, *rest) in weights.items():
        if kind == "same":
            continue
        if kind == "inline":
            tensor, is_param, grad = rest
        else:
            name, key, shape, dtype, is_param, grad = rest
            if name not in handles:
                handles[name] = open_safetensors(folder / name)
            tensor = handles[name].get_tensor(key).to(getattr(torch, dtype))
            if tuple(tensor.shape) != shape:
                raise ValueError(f"{name}: {key} has shape {tuple(tensor.shape)}, the snapshot {shape}")
        out[target] = nn.Parameter(tensor, requires_grad=grad) if is_param else tensor
    for target, (kind, *rest) in weights.items():
        if kind == "same":
            out[target] = out[rest[0]]
    return out


def _class_sources(module: nn.Module) -> list[str]:
    paths = set()
    for m in module.modules():
        try:
            paths.add(str(Path(inspect.getsourcefile(type(m))).resolve()))
        except (TypeError, OSError):
            continue
    return sorted(paths)


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _folder_stamp(folder: Path) -> str:
    rows = []
    for p in sorted(folder.iterdir()):
        st = os.stat(p)
        rows.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}:{int(p.is_dir())}")
    return f"{folder.resolve()}|" + "|".join(rows)


def _transformers_stamp() -> str:
    spec = importlib.util.find_spec("transformers")  # finds the package without importing it
    origin = spec.origin if spec is not None else None
    return f"{origin}:{_stat(origin)}" if origin else "no transformers"


def _own_code_hash() -> str:
    h = hashlib.sha256()
    root = Path(__file__).parents[1]  # adaptgraph/; this file is in graph/, so hashed with it
    for sub in _OWN_CODE:
        for p in sorted((root / sub).rglob("*.py")):
            h.update(read_bytes(p, "source"))
    return h.hexdigest()
