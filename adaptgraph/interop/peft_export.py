"""Export adaptgraph adapters as a PEFT LoRA checkpoint that ``PeftModel.from_pretrained`` loads.

Only edges PEFT can express are written; any other edge makes the whole export fail
with one line per refused edge saying why, since a partial export would compute
something else than the trained model.

The tensor keys depend on the class PEFT wraps: ``base_model.model.layers.0...`` on a bare
``LlamaModel``, ``base_model.model.model.layers.0...`` on ``LlamaForCausalLM``. A run on a causal-LM
folder (loaded with its head) is written for the ``*ForCausalLM`` class (``task_type`` ``CAUSAL_LM``),
any other for the bare model's class; ``auto_mapping.base_model_class`` in ``adapter_config.json`` and
the command's output name it.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import save as save_bytes

from ..errors import InteropError
from ..fileio import write_bytes_atomic
from ..fileio.input_paths import input_paths, source_input
from ..fileio.folder_claims import replaced_folder
from .module_edges import ModuleEdge, call_counts, lora_compatible, shared_call_reason, sorted_problems
from ..backbones.hf_causal import CAUSAL_SUFFIXES, causal_class_name
from ..backbones.hf_features import feature_base
from .peft_format import CONFIG_FILE, KEY_PREFIX, WEIGHTS_FILE, alpha_for, lora_keys
from .source import Source, open_source


@dataclass(frozen=True)
class PeftExport:
    """What ``export_peft`` wrote."""

    out_dir: Path
    targets: tuple[str, ...]  # module paths that carry a LoRA
    config: dict
    model_class: str = ""  # the transformers class the checkpoint fits (LlamaForCausalLM, BertModel)


def export_peft(source: str | Path, out_dir: str | Path, *, backbone=None, trust_code: bool = False) -> PeftExport:
    """Write ``adapter_config.json`` and ``adapter_model.safetensors`` for ``source``'s adapters.

    ``source`` is a run folder or an adapter file; ``backbone`` overrides its saved reference.
    Raises ``InteropError`` naming every edge PEFT cannot express (and why), before writing anything.
    """
    opened = open_source(source, backbone, trust_code=trust_code)
    targets = lora_targets(opened)
    config = lora_config(opened, targets)
    prefix = key_prefix(opened.backbone.module)
    tensors = {}
    for target in targets:
        adapter = opened.adapter(target.edge.name)
        key_a, key_b = lora_keys(target.path, prefix)
        tensors[key_a] = adapter.down.weight.detach().cpu().contiguous()
        tensors[key_b] = adapter.up.weight.detach().cpu().contiguous()
    inputs = input_paths(opened.backbone, **{"the run": source_input(source, opened.path)})
    # never writes over files adaptgraph did not write; weights and config are swapped in together
    with replaced_folder(out_dir, "peft-export", inputs, InteropError) as stage:
        write_bytes_atomic(stage / WEIGHTS_FILE, save_bytes(tensors, metadata={"format": "pt"}))
        write_bytes_atomic(stage / CONFIG_FILE, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    out = Path(out_dir)
    return PeftExport(out, tuple(t.path for t in targets), config, config["auto_mapping"]["base_model_class"])


def lora_targets(opened: Source) -> list[ModuleEdge]:
    """Every edge as a LoRA target; ``InteropError`` lists those that are not."""
    plan, root = opened.plan, opened.backbone.module
    found, refused = [], []
    for edge in plan.edges:
        target, why = lora_compatible(edge, root)
        (found.append(target) if target else refused.append((edge.name, why)))
    calls = call_counts(root, [t.path for t in found], opened.backbone.example_inputs)
    shared = [t for t in found if calls[t.path] > 1]
    found = [t for t in found if t not in shared]
    refused += [(t.edge.name, shared_call_reason(t.path, calls[t.path], "PEFT's LoRA on it")) for t in shared]
    if plan.train:
        refused += [(path, "a `train` module (its full weights are trained); this export writes LoRA "
                           "weights only") for path in plan.train]
    if refused:
        raise InteropError(f"{opened.path}: PEFT cannot express these edges, so nothing was exported:\n"
                           + sorted_problems(refused),
                           hint="only `parallel M { act = none, norm = none, bias = false }` on an nn.Linear or "
                                "Conv1D module maps onto LoRA. To hand the run over anyway: `adaptgraph merge RUN "
                                "--out DIR` folds adapters on one linear module and `train` modules into the "
                                "weights; with --keep-unmerged it keeps the rest (stream, recurrent, nonlinear "
                                "edges, edges on a shared module) as adaptgraph adapters on the merged folder")
    if not found:
        raise InteropError(f"{opened.path}: the model has no adapters to export")
    layouts = {t.layout for t in found}
    if len(layouts) > 1:  # PEFT's fan_in_fan_out is one flag for every target
        raise InteropError(f"{opened.path}: the adapters sit on both nn.Linear and Conv1D modules; "
                           f"one PEFT config cannot describe both", hint="export one kind at a time")
    return found


def lora_config(opened: Source, targets: list[ModuleEdge]) -> dict:
    """A LoRA ``adapter_config.json``: the most common rank/alpha/dropout, the rest as patterns."""
    ranks = {t.path: t.edge.options.rank for t in targets}
    alphas = {t.path: alpha_for(opened.scale(t.edge.name), ranks[t.path]) for t in targets}
    dropouts = {t.edge.options.dropout for t in targets}
    if len(dropouts) > 1:
        raise InteropError(f"{opened.path}: the adapters use different dropouts {sorted(dropouts)}; "
                           f"PEFT has one lora_dropout", hint="dropout only matters in training: use one value")
    r, alpha = _most_common(ranks), _most_common(alphas)
    fits = base_class(opened.backbone.module)
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM" if fits.__name__.endswith(CAUSAL_SUFFIXES) else None,
        "base_model_name_or_path": _base_name(opened),
        "auto_mapping": {"base_model_class": fits.__name__, "parent_library": fits.__module__},
        "r": r, "lora_alpha": alpha, "lora_dropout": dropouts.pop(), "bias": "none",
        "target_modules": sorted(ranks), "fan_in_fan_out": targets[0].layout == "conv1d",
        "rank_pattern": {p: v for p, v in ranks.items() if v != r},
        "alpha_pattern": {p: v for p, v in alphas.items() if v != alpha},
        "use_rslora": False, "use_dora": False, "init_lora_weights": True, "modules_to_save": None,
        "inference_mode": True,
    }


def base_class(module) -> type:
    """The transformers class the checkpoint's keys fit: the ``*ForCausalLM`` class of a causal-LM
    folder (loaded with its head), else the bare model's own class (``BertModel``, ``LlamaModel``)."""
    import transformers

    name = causal_class_name(module)
    return getattr(transformers, name) if name else feature_base(module)


def key_prefix(module) -> str:
    """What PEFT puts before a module path: ``base_model.model.`` plus, on a ``*ForCausalLM`` model,
    the bare decoder's attribute (``model.`` for Llama, ``transformer.`` for GPT-2)."""
    return KEY_PREFIX + (f"{module.base_model_prefix}." if causal_class_name(module) else "")


def _most_common(values: dict) -> object:
    return Counter(values.values()).most_common(1)[0][0]


def _base_name(opened: Source) -> str | None:
    from ..backbones.hf_source import hf_folder

    folder = hf_folder(opened.backbone.ref)
    return str(folder) if folder is not None else None
