"""`export`, `import` and `merge`: hand adapters to PEFT and plain Hugging Face, and take them back."""
from __future__ import annotations

import json
import sys

from . import NO_PROGRESS_HELP, TRUST_CODE_HELP

EXAMPLES_EXPORT = """examples:
  adaptgraph export runs/lora4 --format peft --out lora4-peft
  adaptgraph export adapters.safetensors --format peft --out peft-dir --json

Then, in Python:
  base = AutoModel.from_pretrained(BASE_FOLDER)              # AutoModelForCausalLM for a causal LM
  model = PeftModel.from_pretrained(base, "lora4-peft")

A run on a *ForCausalLM / *LMHeadModel folder is written for that class (task_type CAUSAL_LM;
load the base with AutoModelForCausalLM), any other for the bare model's class; the output
and adapter_config.json's auto_mapping name the class.

Only `parallel M { act = none, norm = none, bias = false }` edges on nn.Linear or Conv1D
modules map onto LoRA (scale * r becomes lora_alpha); any other edge is refused by name.
"""
EXAMPLES_IMPORT = """examples:
  adaptgraph import lora-dir --out imported          # writes imported/spec.adapt + adapters.safetensors
  adaptgraph import lora-dir --out imported --backbone hf:models/bert-base

The backbone defaults to hf:<base_model_name_or_path> from adapter_config.json.
"""
EXAMPLES_MERGE = """examples:
  adaptgraph merge runs/lora4 --out merged          # a plain Hugging Face folder (save_pretrained)
  adaptgraph merge runs/mixed --out merged --keep-unmerged

A causal-LM folder (*ForCausalLM, *LMHeadModel) is saved as that class with its LM head (trained
by `train lm_head` or the folder's own), for AutoModelForCausalLM.from_pretrained(OUT).

Parallel and sequential adapters without activation or norm on nn.Linear / Conv1D modules
are folded into the weights; long-range, recurrent and nonlinear edges are refused unless
--keep-unmerged writes them as adapters (OUT/spec.adapt + adapters.safetensors on OUT).
"""


def register(sub) -> None:
    import argparse

    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("export", help="write adapters in another library's format (PEFT LoRA)",
                       description="Write a run's (or adapter file's) adapters as a PEFT LoRA folder that "
                                   "PeftModel.from_pretrained loads with the same outputs. Edges LoRA cannot "
                                   "express are refused, each by name with the reason.",
                       epilog=EXAMPLES_EXPORT, formatter_class=raw)
    p.add_argument("source", metavar="RUN_OR_SAFETENSORS", help="a run folder or an adapter .safetensors file")
    p.add_argument("--format", required=True, choices=("peft",), help="the format to write (peft)")
    _common(p, "the folder to write (adapter_config.json + adapter_model.safetensors)")
    p.set_defaults(run=run_export)

    p = sub.add_parser("import", help="turn a PEFT LoRA checkpoint into a spec plus adapter weights",
                       description="Read a PEFT LoRA folder and write one `parallel M` edge per target module "
                                   "(spec.adapt) with its weights (adapters.safetensors): the compiled model "
                                   "computes what PeftModel computes. Targets the traced forward never calls "
                                   "are left out with a warning.",
                       epilog=EXAMPLES_IMPORT, formatter_class=raw)
    p.add_argument("source", metavar="PEFT_DIR", help="a folder holding adapter_config.json + adapter_model.safetensors")
    _common(p, "the folder to write (spec.adapt + adapters.safetensors)")
    p.set_defaults(run=run_import)

    p = sub.add_parser("merge", help="fold adapters into the backbone's weights and write a Hugging Face folder",
                       description="Fold every linear adapter on a linear module into that module's weights and "
                                   "write a plain save_pretrained folder that AutoModel loads; the merged model "
                                   "is compared with the compiled one before anything is written.",
                       epilog=EXAMPLES_MERGE, formatter_class=raw)
    p.add_argument("source", metavar="RUN_OR_SAFETENSORS", help="a run folder or an adapter .safetensors file")
    p.add_argument("--keep-unmerged", action="store_true",
                   help="write edges that cannot be merged as adapters beside the merged model")
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)
    _common(p, "the folder to write (a save_pretrained folder)")
    p.set_defaults(run=run_merge)


def _common(p, out_help: str) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help=out_help)
    p.add_argument("--backbone", metavar="REF", help="override the saved backbone reference")
    p.add_argument("--trust-code", action="store_true", help=TRUST_CODE_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_export(args) -> int:
    from ...interop import export_peft

    done = export_peft(args.source, args.out, backbone=args.backbone, trust_code=args.trust_code)
    auto = "AutoModelForCausalLM" if done.config["task_type"] == "CAUSAL_LM" else "AutoModel"
    _report(args, {"out": str(done.out_dir), "targets": list(done.targets), "r": done.config["r"],
                   "lora_alpha": done.config["lora_alpha"], "model_class": done.model_class},
            f"wrote a PEFT LoRA for {len(done.targets)} modules to {done.out_dir} "
            f"(r = {done.config['r']}, lora_alpha = {done.config['lora_alpha']}); it fits {done.model_class}: "
            f"PeftModel.from_pretrained({auto}.from_pretrained(base), out)")
    return 0


def run_import(args) -> int:
    from ...interop import import_peft

    done = import_peft(args.source, args.out, backbone=args.backbone, trust_code=args.trust_code)
    _report(args, {"spec": str(done.spec_path), "adapters": str(done.adapters_path), "targets": list(done.targets),
                   "never_run": list(done.never_run)},
            f"wrote {done.spec_path} and {done.adapters_path} ({len(done.targets)} LoRA modules)")
    if done.never_run:
        print(f"warning: left out {len(done.never_run)} LoRA target{'s' * (len(done.never_run) != 1)} that the "
              f"traced forward never calls (their LoRA changes no output): {', '.join(done.never_run)}",
              file=sys.stderr)
    return 0


def run_merge(args) -> int:
    from ...interop import merge

    done = merge(args.source, args.out, keep_unmerged=args.keep_unmerged, backbone=args.backbone,
                 trust_code=args.trust_code)
    kept = f"; kept as adapters: {', '.join(done.kept)}" if done.kept else ""
    _report(args, {"out": str(done.out_dir), "merged": list(done.merged), "kept": list(done.kept),
                   "max_difference": done.max_difference, "model_class": done.model_class},
            f"merged {len(done.merged)} edges into {done.out_dir}, saved as {done.model_class} (max difference "
            f"from the compiled model {done.max_difference:.3g}){kept}")
    return 0


def _report(args, data: dict, line: str) -> None:
    print(json.dumps(data, indent=2) if args.json else line)
