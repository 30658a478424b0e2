"""Trace a backbone once: per backbone object in a process, and per structure hash on disk.

``trace_backbone(bb)`` is what compile, points, score and search call. In a process it
returns the same ``Traced`` for the same module object and frontend. Across processes it
reads an on-disk cache of traced graphs, so that a second run does not trace again.

An entry holds the graph (nodes, their targets, arguments and the metadata later stages
read) and the ``Traced`` record's fields, never the weights: on a hit the graph is
rebuilt over the caller's module, whose own tensors it uses. The key is a hash of

- the backbone's structure hash (``structure_hash``): every module's path and class, every
  parameter's and buffer's name, shape and dtype, the source files of those classes (editing
  the model's code changes the key) and a Hugging Face config when the module has one;
- the frontend and the fx leaf modules asked for;
- torch's (and transformers') version and this file's format version;
- the example inputs' shapes and dtypes.

Weights are not in the key: the graph does not depend on their values. A corrupt or
unreadable entry, or one written for another key, is ignored (and replaced by the next
trace). The folder is ``$ADAPTGRAPH_TRACE_CACHE`` (``off`` disables the cache), by
default ``$XDG_CACHE_HOME/adaptgraph/traces`` (``~/.cache/adaptgraph/traces``). Entries are
pickles, read as trusted as the user's own code: the folder is created private (0700), and an
entry is read only when it and its folder belong to this user and no one else may write them
(a shared or loosened folder is not read, so nobody else can plant a pickle that runs here). Entries are never deleted (about 50 KB
each); delete the folder to reclaim the space.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import itertools
import os
import pickle
import stat
import sys
import weakref
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import torch
from torch import fx, nn

from ..arguments import check_name
from ..errors import AdaptGraphError
from ..fileio import read_bytes, write_bytes_atomic
from ..progress import step
from ..weights.sharing import share_weights
from .tracing import trace
from .traced import Traced, beside_modules

FORMAT = 2  # 2: no string annotations on nodes (they made compiled models unpicklable)
ENV = "ADAPTGRAPH_TRACE_CACHE"
_KEPT_META = ("nn_module_stack", "tensor_meta")
_FIELDS = ("frontend", "module_paths", "module_types", "containers", "notes", "auto_leaves")


# Keyed weakly by the module object itself: keying by id() could hand a freed module's graph to a
# new module that happens to reuse its address.
_TRACES: "weakref.WeakKeyDictionary[nn.Module, dict[str, Traced]]" = weakref.WeakKeyDictionary()


def trace_backbone(bb, frontend: str | None = None) -> Traced:
    """The traced graph of a loaded ``Backbone`` with ``frontend`` (default: the backbone's own).

    Traced once per backbone object and frontend in a process (later calls return the same
    ``Traced``; compile shares its weights), and read from the disk cache when this
    backbone's structure was traced before. The example inputs go to the device the
    backbone's weights are on, so a backbone moved to a GPU before compiling traces there.
    """
    chosen = check_name(frontend, "frontend") or bb.frontend  # every compile and scoring passes here
    by_frontend = _TRACES.setdefault(bb.module, {})
    if chosen not in by_frontend:
        inputs = _on_device_of(bb.module, bb.example_inputs)  # a backbone moved to a GPU traces there
        traced = cached_trace(bb.module, inputs, chosen, bb.leaf_modules, bb.ref)
        by_frontend[chosen] = replace(traced, beside=beside_modules(bb.module))
    return by_frontend[chosen]


def register_traced(bb, frontend: str | None, traced: Traced) -> None:
    """Make ``trace_backbone(bb, frontend)`` return ``traced`` (a backbone rebuilt from its trace)."""
    _TRACES.setdefault(bb.module, {})[frontend or bb.frontend] = traced


def _on_device_of(module: nn.Module, inputs: tuple) -> tuple:
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    if first is None:
        return inputs
    return tuple(x.to(first.device) if isinstance(x, torch.Tensor) else x for x in inputs)


def cached_trace(module: nn.Module, inputs: tuple, frontend: str, leaf_modules: tuple[str, ...] = (),
                 label: str = "the backbone") -> Traced:
    """``trace(...)``, or its result from the disk cache; a fresh trace is stored for the next run.

    A hit skips the traced-vs-eager check: it ran when the entry was made, for the same code,
    configuration, shapes and frontend (the key), and a graph does not depend on weight values.
    """
    key = trace_key(module, inputs, frontend, leaf_modules)
    hit = load_traced(key, module, inputs)
    if hit is not None:
        return hit
    with step(f"tracing {label} ({frontend})"):
        traced = trace(module, inputs, frontend=frontend, leaf_modules=leaf_modules)
    save_traced(key, traced, module)
    return traced


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$ADAPTGRAPH_TRACE_CACHE`` is ``off`` or no folder can be named.

    Never raises: the cache only saves time, so an environment that names no usable folder (``HOME``
    unset for a user without a passwd entry, ``~nobody-here``) runs without it.
    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification asks, and a relative ``HOME``
    gives no cache: either would scatter caches into whatever folder a command runs in."""
    value = os.environ.get(ENV)
    try:
        if value is not None:
            if value.strip().lower() in ("", "off", "0", "false", "no"):
                return None
            return Path(value).expanduser()
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
        return base / "adaptgraph" / "traces" if base.is_absolute() else None  # HOME=relative: as XDG
    except (RuntimeError, KeyError, OSError):  # no home folder to expand or find
        return None


def trace_key(module: nn.Module, inputs: tuple, frontend: str, leaf_modules: tuple[str, ...] = ()) -> str:
    """The cache key of tracing ``module`` on inputs shaped like ``inputs`` with ``frontend``."""
    h = hashlib.sha256()
    for part in (f"format {FORMAT}", torch.__version__, _version("transformers"), frontend,
                 ",".join(leaf_modules), _shapes(inputs), structure_hash(module)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def structure_hash(module: nn.Module) -> str:
    """A hash of what decides the graph: structure, tensor shapes and dtypes, the classes' code, the config."""
    h = hashlib.sha256()
    for path, m in module.named_modules():
        h.update(f"{path}:{type(m).__module__}.{type(m).__qualname__};".encode())
        for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]:
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(_source_hash(type(m)).encode())
    config = getattr(module, "config", None)
    if hasattr(config, "to_json_string"):
        h.update(config.to_json_string().encode())
    return h.hexdigest()


def load_traced(key: str, module: nn.Module, inputs: tuple) -> Traced | None:
    """The cached ``Traced`` for ``key`` rebuilt over ``module``'s own tensors, or None (miss, corrupt, stale)."""
    entry = read_entry(f"{key}.pt")
    if entry is None or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    try:
        gm = share_weights(rebuild_graph(entry, lambda target: _lookup(module, target)))  # the caller's tensors
        return Traced(gm=gm, example_inputs=tuple(inputs), **entry["traced"])
    except Exception:  # noqa: BLE001 - a bad entry is a miss; the caller traces and overwrites it
        return None


def read_entry(name: str) -> dict | None:
    """The pickled dict stored as ``name`` in the cache folder, or None: no cache, no such entry, an entry
    this user does not own alone (see ``_only_ours``), or one that does not unpickle."""
    folder = cache_dir()
    path = folder / name if folder else None
    if path is None or not _only_ours(path):
        return None
    try:
        entry = _Unpickler(io.BytesIO(read_bytes(path, "cache"))).load()
    except Exception:  # noqa: BLE001 - a corrupt entry is a miss, rewritten by the next store
        return None
    return entry if isinstance(entry, dict) else None


def write_entry(name: str, entry: dict) -> bool:
    """Store ``entry`` as ``name`` in the cache folder (private, atomically); False when it cannot be."""
    folder = cache_dir()
    if folder is None:
        return False
    try:
        buffer = io.BytesIO()
        _Pickler(buffer).dump(entry)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # entries are pickles: only the user may write them
        write_bytes_atomic(folder / name, buffer.getvalue(), mode=0o600)  # private, never through a link
        return True
    except Exception:  # noqa: BLE001 - an unpicklable target or a read-only folder: just do not cache
        return False


def _only_ours(path: Path) -> bool:
    """True for a regular file (not a link) that, like its folder, only this user owns and may write."""
    try:
        entry, folder = os.lstat(path), os.stat(path.parent)
    except OSError:
        return False
    if not stat.S_ISREG(entry.st_mode):
        return False
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows): the user's profile folder is private
        return True
    return all(st.st_uid == os.getuid() and not st.st_mode & 0o022 for st in (entry, folder))


def save_traced(key: str, traced: Traced, module: nn.Module) -> bool:
    """Write ``traced`` under ``key`` (atomically); False when it cannot be stored (then nothing is written)."""
    if cache_dir() is None or type(traced.gm.graph._codegen) is not fx.graph.CodeGen:
        return False
    entry = {"format": FORMAT, "key": key, "nodes": graph_nodes(traced.gm.graph),
             "constants": _constants(traced.gm, module), "traced": traced_fields(traced)}
    return write_entry(f"{key}.pt", entry)


def traced_fields(traced: Traced) -> dict:
    """The ``Traced`` fields an entry keeps (all but the graph module and the example inputs)."""
    return {f: getattr(traced, f) for f in _FIELDS}


def graph_nodes(graph: fx.Graph) -> list[tuple]:
    """The nodes of ``graph`` as plain tuples that ``rebuild_graph`` turns back into a graph."""
    return [(n.name, n.op, n.target, n.args, n.kwargs, n.type, {k: n.meta[k] for k in _KEPT_META if k in n.meta})
            for n in graph.nodes]


def _constants(gm: fx.GraphModule, module: nn.Module) -> dict[str, torch.Tensor]:
    """What the graph uses that the module does not have: export's lifted constants and its guard module."""
    return {node.target: _lookup(gm, node.target) for node in gm.graph.nodes
            if node.op in ("get_attr", "call_module") and _lookup(module, node.target) is None}


def rebuild_graph(entry: dict, lookup) -> fx.GraphModule:
    """The graph of ``entry["nodes"]`` over the tensors and modules ``lookup(target)`` returns (None: missing);
    ``entry["constants"]`` supplies targets the backbone does not have."""
    graph, env, root = fx.Graph(), {}, {}
    for name, op, target, args, kwargs, type_expr, meta in entry["nodes"]:
        args, kwargs = fx.node.map_aggregate((args, kwargs), lambda x: env[x.name] if isinstance(x, _NodeRef) else x)
        node = graph.create_node(op, target, args, kwargs, name=name, type_expr=type_expr)
        if node.name != name:
            raise LookupError(f"node {name} came back as {node.name}")
        node.meta.update(meta)
        env[name] = node
        if op in ("get_attr", "call_module"):
            found = entry["constants"][target] if target in entry["constants"] else lookup(target)
            if found is None:
                raise LookupError(f"{target} is not part of the backbone")
            root[target] = found
    return fx.GraphModule(root, graph, "CachedBackbone")


def _lookup(module: nn.Module, target: str):
    obj = module
    for part in target.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class _Pickler(pickle.Pickler):
    """Nodes become references by name; aten operators become their names (they do not pickle)."""

    def persistent_id(self, obj):
        if isinstance(obj, fx.Node):
            return ("node", obj.name)
        if isinstance(obj, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            return ("op", str(obj))
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        kind, value = pid
        if kind == "node":
            return _NodeRef(value)
        if kind == "op":
            obj = torch.ops
            for part in value.split("."):
                obj = getattr(obj, part)
            return obj
        raise pickle.UnpicklingError(f"unknown reference {kind}")


class _NodeRef:
    """Stands for a node, by name, until the graph is rebuilt."""

    def __init__(self, name: str):
        self.name = name


def _shapes(inputs: tuple) -> str:
    return ";".join(f"{tuple(x.shape)}:{x.dtype}" if isinstance(x, torch.Tensor) else repr(x) for x in inputs)


def _version(package: str) -> str:
    module = sys.modules.get(package)
    return f"{package} {getattr(module, '__version__', '')}" if module else ""


@lru_cache(maxsize=None)
def _source_hash(cls: type) -> str:
    try:
        return hashlib.sha256(read_bytes(inspect.getsourcefile(cls), "source")).hexdigest()[:16]
    except (TypeError, OSError, AdaptGraphError):  # a builtin or a class without a source file: its name stands for it
        return f"{cls.__module__}.{cls.__qualname__}"
