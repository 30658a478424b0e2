"""A model folder's ``config.json`` and weights, checked before transformers reads them.

transformers trusts its config: ``"hidden_size": "32"`` or ``"vocab_size": 4e9`` ends deep inside
model construction (a type error, or gigabytes allocated). The fields that size a model are read
here through a typed model with bounds, and each problem names the file and the field; the
weights' safetensors headers are checked (``adaptgraph.fileio.safetensors_files``) before
transformers maps them, and PyTorch weight files read as weights only
(``adaptgraph.fileio.torch_files``). Fields adaptgraph does not know pass through untouched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from adaptgraph.errors import BackboneError
from adaptgraph.fileio import bound_of, is_regular_file, read_model
from adaptgraph.fileio.safetensors_files import check_safetensors
from adaptgraph.fileio.torch_files import check_torch_file

MAX_WIDTH = 1 << 16  # hidden sizes, heads, layers: the largest released models stay far below
MAX_VOCAB = 1 << 22  # 4 million tokens; released vocabularies are below 300,000
MAX_POSITIONS = 1 << 20
HINT = "the model folder is damaged or edited; write it again with model.save_pretrained(folder)"

# null is allowed (GPT-2 writes "n_inner": null for "4 x n_embd"); transformers' own checks refuse a null
# where it needs a number, and that is a BackboneError too (hf_source._folder_errors)
Width = Optional[Annotated[StrictInt, Field(ge=1, le=MAX_WIDTH)]]
Count = Optional[Annotated[StrictInt, Field(ge=0, le=MAX_WIDTH)]]
Side = Annotated[StrictInt, Field(ge=1, le=MAX_WIDTH)]


class HfConfig(BaseModel):
    """The fields of ``config.json`` that size a model (those of the architectures adaptgraph loads)."""

    model_config = ConfigDict(extra="allow")

    model_type: Optional[StrictStr] = None
    architectures: Optional[list[StrictStr]] = None
    vocab_size: Optional[Annotated[StrictInt, Field(ge=1, le=MAX_VOCAB)]] = None
    hidden_size: Width = None
    intermediate_size: Width = None
    num_hidden_layers: Count = None
    num_attention_heads: Width = None
    num_key_value_heads: Width = None
    head_dim: Width = None
    max_position_embeddings: Optional[Annotated[StrictInt, Field(ge=1, le=MAX_POSITIONS)]] = None
    type_vocab_size: Optional[Annotated[StrictInt, Field(ge=0, le=MAX_VOCAB)]] = None
    n_embd: Width = None
    n_layer: Count = None
    n_head: Width = None
    n_inner: Width = None
    n_positions: Optional[Annotated[StrictInt, Field(ge=1, le=MAX_POSITIONS)]] = None
    d_model: Width = None
    num_layers: Count = None
    num_heads: Width = None
    d_ff: Width = None
    num_channels: Width = None
    image_size: Optional[Union[Side, Annotated[list[Side], Field(max_length=3)]]] = None  # 224 or [224, 224]
    patch_size: Optional[Union[Side, Annotated[list[Side], Field(max_length=3)]]] = None


def check_model_folder(folder: Path, ref: str) -> HfConfig:
    """``config.json`` read through ``HfConfig``, every ``*.safetensors`` header checked (or, without any, every
    ``pytorch_model*.bin`` read as weights only); BackboneError."""
    _check_entries(folder, ref)
    config = read_model(folder / "config.json", HfConfig, error=BackboneError, what="the model's config.json",
                        hint=HINT)
    safetensors = sorted(folder.glob("*.safetensors"))[:1000]
    for weights in safetensors:
        check_safetensors(weights, error=BackboneError, what=f"the weights of backbone {ref}")
    if not safetensors:  # transformers falls back to PyTorch's pickles: a damaged one must not reach it
        for weights in sorted(folder.glob("pytorch_model*.bin"))[:1000]:
            check_torch_file(weights, error=BackboneError, what=f"the weights of backbone {ref}")
    return config


def _check_entries(folder: Path, ref: str) -> None:
    """Every entry of the folder transformers may open is a regular file or a folder (a FIFO named
    tokenizer.json would block it forever), and its JSON files are within the JSON bound."""
    limit = bound_of("json")
    for entry in sorted(folder.iterdir())[:10_000]:
        if entry.is_dir():
            continue
        if not is_regular_file(entry):
            raise BackboneError(f"backbone {ref}: {entry} is not a regular file (a FIFO, a device or a broken link)",
                                hint=HINT)
        if entry.suffix == ".json" and entry.stat().st_size > limit:
            raise BackboneError(f"backbone {ref}: {entry} is larger than {limit} bytes, the bound for a JSON file",
                                hint="is it the right file? raise the bound with ADAPTGRAPH_MAX_JSON_BYTES=BYTES")
