"""A decoder backbone's own output embedding (its LM head), for causal language modelling.

Feature modules return hidden states; the matrix that turns them into next-token
logits lives elsewhere:

- ``zoo:gpt-tiny``: tied to the input embedding ``wte`` (as in GPT-2);
- ``hf:PATH`` of a ``*ForCausalLM`` / ``*LMHeadModel`` folder: the head loaded with it
  (``backbones.hf_causal``), tied or not;
- other ``hf:PATH`` folders: the saved ``lm_head.weight`` (Llama, Qwen2 and any
  ``...ForCausalLM`` whose head is not tied), else the input embedding when the
  config ties them (GPT-2, small Qwen2). A folder saved from a base model without a
  tied head (``LlamaModel``) has none: save the ``...ForCausalLM`` model instead;
- any other module: its ``get_output_embeddings()`` or ``lm_head`` Linear, else a
  tied ``wte``.

A tied head is the embedding tensor itself (no copy); a saved one is read from disk in the
backbone's dtype.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from adaptgraph.backbones.hf_causal import causal_head
from adaptgraph.backbones.hf_source import hf_folder
from adaptgraph.errors import BackboneError
from adaptgraph.fileio import read_json
from adaptgraph.fileio.safetensors_files import load_safetensors
from adaptgraph.fileio.torch_files import load_torch

_HEAD_KEY = "lm_head"


def output_embedding(backbone) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(weight (vocab, width), bias or None)`` of ``backbone``'s LM head; BackboneError when it has none."""
    module = backbone.module
    attached = causal_head(module)  # a *ForCausalLM folder's own head, loaded with it
    if attached is not None:
        return attached.weight, attached.bias
    folder = hf_folder(backbone.ref)
    if folder is not None:
        saved = _saved_head(folder)
        if saved is not None:
            weight = module.get_input_embeddings().weight
            return tuple(t.to(weight.dtype) if t is not None else None for t in saved)  # type: ignore[return-value]
        if getattr(module.config, "tie_word_embeddings", True):
            return module.get_input_embeddings().weight, None
        raise BackboneError(f"backbone '{backbone.ref}' has no LM head: the folder saves no {_HEAD_KEY}.weight "
                            "and its config does not tie it to the input embedding",
                            hint="save the model with its head (AutoModelForCausalLM ... save_pretrained)")
    head = _module_head(module)
    if head is None:
        raise BackboneError(f"backbone '{backbone.ref}' has no LM head (no get_output_embeddings(), lm_head or wte)",
                            hint="use a decoder such as zoo:gpt-tiny or an hf: folder of a ...ForCausalLM model")
    return head


def _module_head(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    getter = getattr(module, "get_output_embeddings", None)
    head = getter() if callable(getter) else getattr(module, _HEAD_KEY, None)
    if isinstance(head, nn.Linear):
        return head.weight, head.bias
    wte = getattr(module, "wte", None)
    return (wte.weight, None) if isinstance(wte, nn.Embedding) else None


def _saved_head(folder: Path) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``lm_head.weight`` (and bias) from the folder's safetensors or PyTorch weights, when saved."""
    keys = (f"{_HEAD_KEY}.weight", f"{_HEAD_KEY}.bias")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = read_json(index, error=BackboneError)
        files = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise BackboneError(f"{index}: its 'weight_map' is not a mapping of tensor names to files")
        found = {k: _read_safetensors(folder / files[k], k) for k in keys if k in files}
    elif (folder / "model.safetensors").is_file():
        found = {k: _read_safetensors(folder / "model.safetensors", k) for k in keys}
    elif (folder / "pytorch_model.bin").is_file():
        state = load_torch(folder / "pytorch_model.bin", error=BackboneError)
        found = {k: state.get(k) for k in keys}
    else:
        return None
    weight = found.get(keys[0])
    return None if weight is None else (weight, found.get(keys[1]))


def _read_safetensors(path: Path, key: str) -> torch.Tensor | None:
    return load_safetensors(path, error=BackboneError, keys=(key,))[1].get(key)
