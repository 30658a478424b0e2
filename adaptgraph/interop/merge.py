"""Fold adapters into the backbone's weights and write a plain Hugging Face model folder.

An adapter without activation or norm on a linear module M is linear in M's input
(dropout is the identity at inference), so with ``D, d`` the down-projection, ``U, u``
the up-projection and ``s`` the scale:

- ``parallel M``:   ``W' = W + s U D``,             ``b' = b + s (U d + u)``
- ``sequential M``: ``W' = (I + s U D) W``,          ``b' = (I + s U D) b + s (U d + u)``

(``Conv1D`` stores ``W`` transposed). The products are formed in float64 and rounded
once to the weight's dtype. ``train`` modules are copied as they are. Long-range,
recurrent and nonlinear edges cannot be folded: they are refused, or kept as adapters
on the merged folder with ``keep_unmerged``.

A causal-LM backbone (an ``hf:`` folder of ``*ForCausalLM``) is saved as that class, with its
LM head (trained by ``train lm_head`` or the folder's own), so ``AutoModelForCausalLM`` loads it
whole; a tied head trained with ``train lm_head`` trained the input embedding with it (one tensor, as
in transformers), and both are saved so.
"""
from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..backbones import get_backbone
from ..backbones.hf_causal import causal_head, causal_model
from ..backbones.hf_features import feature_base
from ..backbones.hf_source import hf_folder, quiet_bars
from ..compiler import compile
from ..errors import InteropError
from ..fileio import copy_file, is_regular_file, os_failure
from ..fileio.oserrors import library_os_error
from ..fileio.input_paths import input_paths, source_input
from ..fileio.folder_claims import replaced_folder
from ..backbones.identity import weights_digest
from ..progress import step
from ..compiler.adapter_files import FINGERPRINT_KEY, load_weights, read_adapter_file, save_adapters
from ..weights.trainable import adapter_path
from ..spec import Spec, dump
from ..spec.models import Edge
from .module_edges import ModuleEdge, call_counts, mergeable, shared_call_reason, sorted_problems
from .source import Source, open_source

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                   "merges.txt", "added_tokens.json", "tokenizer.model", "spiece.model")
# The merged model is compared with the compiled one on the backbone's example inputs. Folding
# changes only rounding (one float32 rounding of W' and another summation order: a few units of
# 2^-24 times |W||x| per layer), so a difference above this, relative to the output's size, means
# the fold computed something else (for example a module called more than once).
CHECK_RTOL = 1e-4


@dataclass(frozen=True)
class MergeResult:
    """What ``merge`` wrote."""

    out_dir: Path
    merged: tuple[str, ...]  # edges folded into the weights
    kept: tuple[str, ...]  # edges written as adapters beside the merged model (keep_unmerged)
    max_difference: float  # merged vs compiled model on the backbone's example inputs
    model_class: str = ""  # the class saved: LlamaForCausalLM (with its LM head) for a causal-LM folder


def merge(source: str | Path, out_dir: str | Path, *, keep_unmerged: bool = False, backbone=None,
          trust_code: bool = False) -> MergeResult:
    """Fold ``source``'s mergeable edges into its Hugging Face backbone and ``save_pretrained`` to ``out_dir``.

    ``source``: a run folder or an adapter file. Edges that cannot be folded raise
    ``InteropError`` listing each with the reason, unless ``keep_unmerged``: then they are
    written to ``out_dir/adapters.safetensors`` + ``spec.adapt`` on the merged model.
    """
    opened = open_source(source, backbone, trust_code=trust_code)
    folder = _hf_source_folder(opened)
    folds, refused = split_edges(opened)
    if refused and not keep_unmerged:
        raise InteropError(f"{opened.path}: these edges cannot be merged into the weights:\n"
                           + sorted_problems(refused),
                           hint="pass --keep-unmerged (keep_unmerged=True) to write them as adapters on the merged model")
    with step(f"merge: folding {len(folds)} edge{'s' * (len(folds) != 1)} into a copy of the weights"):
        merged = copy.deepcopy(opened.backbone.module)
        for fold in folds:
            fold_edge(merged, fold, opened)
        _copy_train_modules(merged, opened)
    out = Path(out_dir)
    difference = 0.0
    if not refused:  # checked before anything is written
        with step("merge: comparing the merged model with the compiled one"):
            difference = _difference(merged, opened)
        _check(difference, opened)
    merged.__class__ = feature_base(merged)  # save the Hugging Face class itself, not our feature subclass
    saved = causal_model(merged) if causal_head(merged) is not None else merged  # a causal LM keeps its head
    inputs = input_paths(opened.backbone, **{"the run": source_input(source, opened.path), "the model folder": folder})
    # never writes over files adaptgraph did not write, nor over what it reads; the new folder is
    # written beside the old one and swapped in only when complete (an earlier merge's kept
    # adapters, which belong to the weights replaced, go with it)
    with replaced_folder(out, "merge", inputs, InteropError) as stage, step(f"merge: saving to {out}"):
        _save_pretrained(saved, stage, out)
        _copy_tokenizer(folder, stage)
        if refused:
            difference = _write_kept(stage, opened, [name for name, _ in refused], final=out)
            _check(difference, opened)
    return MergeResult(out, tuple(f.edge.name for f in folds), tuple(n for n, _ in refused), difference,
                       type(saved).__name__)


def split_edges(opened: Source) -> tuple[list[ModuleEdge], list[tuple[str, str]]]:
    """``(edges to fold, [(edge name, why it cannot be folded)])``."""
    folds, refused = [], []
    for edge in opened.plan.edges:
        found, why = mergeable(edge, opened.backbone.module)
        (folds.append(found) if found else refused.append((edge.name, why)))
    calls = call_counts(opened.backbone.module, [f.path for f in folds], opened.backbone.example_inputs)
    for f in [f for f in folds if calls[f.path] > 1]:
        folds.remove(f)
        refused.append((f.edge.name, shared_call_reason(f.path, calls[f.path], "a fold into its weight")))
    per_module = Counter(f.path for f in folds)
    tangled = {f.path for f in folds if per_module[f.path] > 1 and f.edge.kind == "sequential"}
    for f in [f for f in folds if f.path in tangled]:
        folds.remove(f)
        refused.append((f.edge.name, f"{f.path} carries several edges, one of them sequential: their order matters"))
    return folds, refused


def fold_edge(root: torch.nn.Module, fold: ModuleEdge, opened: Source) -> None:
    """Fold one edge into its module's weight and bias, in place (see the module docstring)."""
    module = root.get_submodule(fold.path)
    adapter = opened.adapter(fold.edge.name)
    s = opened.scale(fold.edge.name)
    down, up = adapter.down, adapter.up
    delta = s * up.weight.double() @ down.weight.double()  # out x in
    shift = s * (up.weight.double() @ _bias(down) + _bias(up))
    weight = module.weight.double() if fold.layout == "linear" else module.weight.double().T
    bias = module.bias.double() if module.bias is not None else None
    if fold.edge.kind == "parallel":
        new_weight, new_bias = weight + delta, (bias + shift if bias is not None else shift)
    else:
        grow = torch.eye(delta.shape[0], dtype=delta.dtype) + delta
        new_weight = grow @ weight
        new_bias = (grow @ bias + shift) if bias is not None else shift
    if module.bias is None and bool(new_bias.abs().max() > 0):
        raise InteropError(f"edge {fold.edge.name}: {fold.path} has no bias, but the adapter adds a constant "
                           f"(its biases)", hint="keep it unmerged, or train it with `bias = false`")
    with torch.no_grad():
        module.weight.copy_(new_weight if fold.layout == "linear" else new_weight.T)
        if module.bias is not None:
            module.bias.copy_(new_bias)


def _bias(linear: torch.nn.Linear) -> torch.Tensor:
    if linear.bias is None:
        return torch.zeros(linear.out_features, dtype=torch.float64)
    return linear.bias.double()


def _copy_train_modules(merged: torch.nn.Module, opened: Source) -> None:
    prefixes = tuple(f"{p}." for p in opened.plan.train)
    trained = {k: v for k, v in opened.model.state_dict().items() if k.startswith(prefixes)}
    if trained:
        merged.load_state_dict(trained, strict=False)


def _hf_source_folder(opened: Source) -> Path | None:
    ref = opened.backbone.ref
    if not ref.startswith("hf:") or not hasattr(opened.backbone.module, "save_pretrained"):
        raise InteropError(f"{opened.path}: merge writes a Hugging Face model folder, and backbone {ref!r} "
                           f"is not a Hugging Face model", hint="merge works on hf: backbones")
    return hf_folder(ref)


def _save_pretrained(merged: torch.nn.Module, stage: Path, out: Path) -> None:
    import transformers

    try:
        with quiet_bars(transformers):  # its shard bar would put carriage returns in a log, even with --no-progress
            merged.save_pretrained(stage)
    except Exception as e:  # a full disk or a read-only folder: the old folder is left as it was
        found = library_os_error(e)  # safetensors' writer raises its own error around the OS's
        if found is None:
            raise
        raise os_failure(found, out, "cannot write the merged model", InteropError) from None


def _copy_tokenizer(folder: Path | None, out: Path) -> None:
    for name in TOKENIZER_FILES if folder is not None else ():
        if is_regular_file(folder / name):
            copy_file(folder / name, out / name, InteropError)


def _difference(merged: torch.nn.Module, opened: Source) -> float:
    inputs = opened.backbone.example_inputs
    with torch.no_grad():
        return float((merged(*inputs).double() - opened.model(*inputs).double()).abs().max())


def _write_kept(out: Path, opened: Source, names: list[str], final: Path) -> float:
    """Write the unmerged edges as adapters on the merged folder ``out`` (to be moved to ``final``); return
    the rebuilt model's difference."""
    from ..train.files import ADAPTERS_FILE, SPEC_FILE

    spec = kept_spec(opened, names, f"hf:{final.resolve()}")
    # the merged model is read from the new folder and named by the place it is about to take
    staged = get_backbone(f"hf:{out.resolve()}")
    kept_model = compile(spec, dataclasses.replace(staged, ref=spec.backbone))
    state = {k: v for k, v in opened.model.state_dict().items()
             if any(k.startswith(adapter_path(n) + ".") for n in names)}
    kept_model.load_state_dict(state, strict=False)
    save_adapters(kept_model, out / ADAPTERS_FILE, metadata={"merged_from": str(opened.path.resolve()),
                                                             FINGERPRINT_KEY: weights_digest(staged)})
    dump(spec, out / SPEC_FILE)
    load_weights(kept_model, read_adapter_file(out / ADAPTERS_FILE), out / ADAPTERS_FILE)
    inputs = opened.backbone.example_inputs
    with torch.no_grad():
        return float((kept_model(*inputs).double() - opened.model(*inputs).double()).abs().max())


def kept_spec(opened: Source, names: list[str], backbone: str) -> Spec:
    """A spec holding only the edges ``names``, each written out with its resolved points and options."""
    by_name = {e.name: e for e in opened.plan.edges}
    edges = tuple(Edge(kind=by_name[n].kind, src=by_name[n].src.name, dst=by_name[n].dst.name, name=n,
                       options=by_name[n].options) for n in names)
    old = opened.plan.spec
    return Spec(name=old.name, backbone=backbone, edges=edges, stream=old.stream, passes=old.passes)


def _check(difference: float, opened: Source) -> None:
    with torch.no_grad():
        size = float(opened.model(*opened.backbone.example_inputs).abs().max())
    if not difference <= CHECK_RTOL * max(1.0, size):
        raise InteropError(f"{opened.path}: the merged model differs from the compiled one by {difference:.3g} "
                           f"on the example inputs (allowed {CHECK_RTOL:g} x {max(1.0, size):.3g})",
                           hint="an adapted module may be called more than once; keep those edges unmerged")
