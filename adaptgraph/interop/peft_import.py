"""Import a PEFT LoRA checkpoint as an adaptgraph spec plus adapter weights.

Each LoRA target ``M`` becomes ``parallel M { rank = r, scale = alpha / r, bias = false,
act = none, norm = none }`` with ``lora_A`` as the down- and ``lora_B`` as the
up-projection, so the compiled model computes what ``PeftModel`` computes, op for op.
A target the traced forward never calls (BERT's ``pooler.dense`` when PEFT's
``target_modules`` names ``dense``) changes no output: it is left out and named in
``PeftImport.never_run``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..backbones import get_backbone
from ..compiler import compile, compile_info
from ..errors import InteropError
from ..fileio import read_json, validate_model
from ..fileio.patterns import check_patterns, pattern_key
from ..fileio.safetensors_files import load_safetensors
from ..fileio.input_paths import input_paths
from ..fileio.folder_claims import replaced_folder
from ..compiler.adapter_files import save_adapters
from ..weights.trainable import adapter_path
from ..spec import dump, loads
from ..spec.printer import quote
from .module_edges import module_path
from .peft_config import PeftConfig
from .peft_format import CONFIG_FILE, KEY_PREFIX, WEIGHTS_FILE, scaling

CONFIG_HINT = "give the adapter_config.json PEFT wrote"
_UNSUPPORTED = {  # config field -> (value that is fine, why another value cannot be expressed)
    "use_dora": (False, "DoRA rescales the weight's columns; adaptgraph adapters only add"),
    "lora_bias": (False, "LoRA biases are not supported"),
    "bias": ("none", "PEFT also trained the base model's biases, which an adapter file does not hold"),
    "modules_to_save": (None, "modules_to_save holds full module copies; train them with `train M` instead"),
    "layer_replication": (None, "layer replication changes the backbone's layers"),
}


@dataclass(frozen=True)
class PeftImport:
    """What ``import_peft`` wrote."""

    spec_path: Path
    adapters_path: Path
    targets: tuple[str, ...]
    never_run: tuple[str, ...] = ()  # targets the traced forward never calls: left out


def import_peft(peft_dir: str | Path, out_dir: str | Path, *, backbone=None, trust_code: bool = False) -> PeftImport:
    """Turn the LoRA checkpoint in ``peft_dir`` into ``spec.adapt`` + ``adapters.safetensors`` in ``out_dir``.

    ``backbone`` defaults to ``hf:`` + the config's ``base_model_name_or_path`` (``hf:minilm`` when
    that is the bundled MiniLM's folder). The written adapter file loads with ``load_adapters``
    (or ``adaptgraph`` commands) like a trained one.
    """
    folder = Path(peft_dir)
    config = _read_config(folder)
    weights = _read_weights(folder)
    ref = backbone if backbone is not None else _backbone_ref(folder, config)
    bb = get_backbone(ref, trust_code=trust_code)
    pairs = _strip_prefix(_lora_pairs(folder, weights), bb.module, folder)
    pairs, never_run = _called_only(pairs, bb, folder)
    spec = loads(spec_text(bb.ref, config, pairs, name=_identifier(folder.resolve().name),
                           where=str(folder / CONFIG_FILE)), f"{folder}[import]")
    model = compile(spec, bb)
    _copy_weights(model, pairs, folder / WEIGHTS_FILE)
    from ..train.files import ADAPTERS_FILE, SPEC_FILE

    # never writes over files adaptgraph did not write; the spec and its adapters are swapped in together
    with replaced_folder(out_dir, "peft-import", input_paths(bb, **{"the PEFT folder": folder}), InteropError) as stage:
        save_adapters(model, stage / ADAPTERS_FILE, metadata={"imported_from": str(folder.resolve())})
        dump(spec, stage / SPEC_FILE)
    out = Path(out_dir)
    return PeftImport(out / SPEC_FILE, out / ADAPTERS_FILE, tuple(pairs), never_run)


def spec_text(backbone: str, config: dict, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]],
              name: str = "peft_lora", where: str = CONFIG_FILE) -> str:
    """The ``.adapt`` text of the checkpoint: one ``parallel M`` per target with its rank and scale."""
    lines = [f"spec {name}", f"backbone {quote(backbone)}"]  # a folder name may hold quotes
    lines.append(f"defaults {{ act = none, norm = none, bias = false, dropout = {float(config.get('lora_dropout', 0.0))!r} }}")
    for path, (a, _) in pairs.items():
        r = a.shape[0]
        alpha = _pattern_value(config.get("alpha_pattern") or {}, path, config.get("lora_alpha", 8), where)
        scale = float(scaling(alpha, r, bool(config.get("use_rslora"))))
        if not math.isfinite(scale):  # a huge alpha over a small rank: name the field, not the generated spec
            raise InteropError(f"{where}: lora_alpha {alpha!r} over rank {r} gives the scale {scale} for {path}",
                               hint="give the adapter_config.json PEFT wrote")
        lines.append(f"parallel {path} {{ rank = {r}, scale = {scale!r} }}")
    return "\n".join(lines) + "\n"


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)[:200] or "peft_lora"  # ASCII: what the spec language takes
    return name if not name[0].isdigit() else f"lora_{name}"


def _pattern_value(pattern: dict, path: str, default, where: str = CONFIG_FILE):
    """PEFT's rule (``get_pattern_key``): a pattern key applies to the module whose path ends with it (as a
    regex), matched at a bounded cost (``adaptgraph.fileio.patterns``)."""
    key = pattern_key(pattern, path, where, "alpha_pattern", InteropError)
    return pattern[key] if key is not None else default


def _read_config(folder: Path) -> dict:
    path = folder / CONFIG_FILE
    if not path.exists():
        raise InteropError(f"{folder}: cannot read {CONFIG_FILE} (no such file or folder)",
                           hint="give the folder PEFT's save_pretrained wrote")
    config = read_json(path, error=InteropError, what=CONFIG_FILE, hint=CONFIG_HINT)  # bounded, regular
    if not isinstance(config, dict):
        raise InteropError(f"{path}: not a PEFT config (a JSON object), but a {type(config).__name__}")
    if config.get("peft_type") != "LORA":
        raise InteropError(f"{path}: peft_type is {config.get('peft_type')!r}; only LORA checkpoints can be imported")
    refused = [f"{key} = {config[key]!r}: {why}" for key, (fine, why) in _UNSUPPORTED.items()
               if config.get(key, fine) not in (fine, None, False, [], {})]
    if refused:
        raise InteropError(f"{path}: this LoRA uses what adaptgraph cannot express:\n  " + "\n  ".join(refused))
    _check_values(path, config)
    validate_model(PeftConfig, config, path, error=InteropError, hint=CONFIG_HINT)  # types and bounds
    if isinstance(config.get("target_modules"), str):  # a str is a regex PEFT full-matches; a list holds names
        check_patterns(config["target_modules"], path, "target_modules", InteropError)
    for field in ("rank_pattern", "alpha_pattern"):  # all compiled, as PEFT does, even those never matched
        check_patterns(config.get(field) or {}, path, field, InteropError)
    return config


def _check_values(path: Path, config: dict) -> None:
    """The fields the spec is written from have PEFT's types (a string alpha failed deep inside as a bug)."""
    alphas = config.get("alpha_pattern") or {}
    problems = [] if isinstance(alphas, dict) else [f"alpha_pattern is {alphas!r}, not an object of module -> alpha"]
    numbers = {"lora_alpha": config.get("lora_alpha", 8), "lora_dropout": config.get("lora_dropout", 0.0)}
    numbers.update({f"alpha_pattern[{k!r}]": v for k, v in (alphas.items() if isinstance(alphas, dict) else ())})
    problems += [f"{key} is {value!r}, not a number" for key, value in numbers.items()
                 if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value]
    if not isinstance(config.get("use_rslora", False), bool):
        problems.append(f"use_rslora is {config['use_rslora']!r}, not true or false")
    if problems:
        raise InteropError(f"{path}: " + "; ".join(problems), hint="give the adapter_config.json PEFT wrote")


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS_FILE
    if not path.exists():
        raise InteropError(f"{folder}: no {WEIGHTS_FILE}",
                           hint="PEFT writes it with save_pretrained(..., safe_serialization=True), the default")
    return load_safetensors(path, error=InteropError, what=WEIGHTS_FILE)[1]  # bounded, regular, checked first


def _lora_pairs(folder: Path, weights: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Module path -> (lora_A weight, lora_B weight); anything else in the file is refused."""
    pairs, others = {}, []
    for key, tensor in weights.items():
        m = re.fullmatch(rf"{re.escape(KEY_PREFIX)}(?P<path>.+)\.lora_(?P<ab>[AB])\.weight", key)
        if m is None or tensor.dim() != 2:
            others.append(key)
            continue
        pairs.setdefault(m["path"], {})[m["ab"]] = tensor
    incomplete = sorted(p for p, ab in pairs.items() if set(ab) != {"A", "B"})
    if others or incomplete:
        raise InteropError(f"{folder / WEIGHTS_FILE}: only LoRA weights on linear layers can be imported; "
                           f"found {(others + incomplete)[:5]}",
                           hint="embedding and convolution LoRAs, and other tensors, have no adaptgraph form yet")
    return {p: (ab["A"], ab["B"]) for p, ab in pairs.items()}


def _strip_prefix(pairs: dict, root: torch.nn.Module, folder: Path) -> dict:
    """Paths relative to the backbone: a task model's ``bert.`` (its base_model_prefix) is dropped."""
    paths = {p for p, _ in root.named_modules()}
    prefix = getattr(root, "base_model_prefix", "") + "."
    fixed = {p[len(prefix):] if p not in paths and p.startswith(prefix) else p: v for p, v in pairs.items()}
    unknown = sorted(p for p in fixed if p not in paths)
    if unknown:
        raise InteropError(f"{folder}: these LoRA targets are not modules of the backbone: {unknown[:5]}",
                           hint="pass --backbone with the model the adapters were trained on")
    return fixed


def _called_only(pairs: dict, bb, folder: Path) -> tuple[dict, tuple[str, ...]]:
    """The targets the traced forward calls, and the others (their LoRA changes no output)."""
    from ..graph import module_ports, trace_backbone

    called = {name.rsplit(".", 1)[0] for name in module_ports(trace_backbone(bb))}
    kept = {p: v for p, v in pairs.items() if p in called}
    if not kept:
        raise InteropError(f"{folder}: the traced forward of {bb.ref} calls none of the LoRA targets "
                           f"{sorted(pairs)[:5]}", hint="pass --backbone with the model the adapters were trained on")
    return kept, tuple(sorted(p for p in pairs if p not in called))


def _backbone_ref(folder: Path, config: dict) -> str:
    from ..backbones.hf_source import known_ref

    base = config.get("base_model_name_or_path")
    if not base:
        raise InteropError(f"{folder / CONFIG_FILE} names no base model (base_model_name_or_path)",
                           hint="pass --backbone REF, e.g. --backbone hf:PATH_TO_MODEL")
    return known_ref(base)


def _copy_weights(model, pairs: dict, source: Path) -> None:
    by_module = {module_path(e): e.name for e in compile_info(model).plan.edges}
    with torch.no_grad():
        for path, (a, b) in pairs.items():
            adapter = model.get_submodule(adapter_path(by_module[path]))
            wanted = (tuple(adapter.down.weight.shape), tuple(adapter.up.weight.shape))
            if (tuple(a.shape), tuple(b.shape)) != wanted:
                raise InteropError(f"{source}: the LoRA of {path} has lora_A {tuple(a.shape)} and lora_B "
                                   f"{tuple(b.shape)}; the module needs {wanted[0]} and {wanted[1]}",
                                   hint="the file is damaged, or its LoRA was trained on another model: "
                                        "pass --backbone with that model")
            adapter.down.weight.copy_(a)
            adapter.up.weight.copy_(b)
