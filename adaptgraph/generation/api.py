"""``adaptgraph.generate``: continue prompts with a compiled decoder, batched, with a key-value cache.

Prompts are tokenized as ``lm:`` tasks tokenize a paragraph, left-padded into one batch
(each row's positions count its real tokens, so a row is computed as the prompt alone),
and continued greedily or by sampling. Where it can, the eager Hugging Face model runs
with its key-value cache and the spec's adapters attached by hooks (``edge_hooks``), after
its logits were checked against the compiled model's on the same prompts; otherwise
(recurrent edges, a backbone without a cache, edges no hook can reach) every new token
runs the compiled model over the whole sequence, and ``Generation.notice`` says why.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from functools import partial

import torch
from torch import nn

from ..backbones import get_backbone
from ..compiler import compile_info
from ..errors import ArgumentError, TaskError
from ..graph import trace_backbone
from ..tasks.lm import _token_ids
from ..tasks.lm_head import lm_head
from .config import GenerationConfig, generation_config
from .edge_hooks import Unmapped, attached, plan_hooks
from .sampling import Sampler
from .steppers import Cached, FullRecompute, cache_argument

# The cached model is trusted when its logits agree with the compiled model's up to rounding: the
# cache changes only the order of float32 sums (a few units of 2^-24 times the logits' size).
CHECK_RTOL = 1e-4


class FullRecomputationWarning(UserWarning):
    """Generation runs without a key-value cache; the message says why."""


@dataclass(frozen=True)
class GeneratedText:
    """One prompt's continuation: its text and its new token ids (the prompt's not included)."""

    prompt: str | list[int]
    text: str
    token_ids: list[int]


@dataclass(frozen=True)
class Generation:
    """What ``generate`` returns."""

    outputs: list[GeneratedText]
    cache: bool  # whether the key-value cache ran (else full recomputation)
    notice: str  # why there was no cache, or ""
    new_tokens: int  # generated in all (every row, up to its end)
    seconds: float

    def to_dict(self) -> dict:
        return {**asdict(self), "tokens_per_second": self.new_tokens / self.seconds if self.seconds else None}


def generate(model: nn.Module, prompts, config: GenerationConfig | None = None, *, backbone=None,
             **options) -> Generation:
    """Continue each prompt of ``prompts`` by up to ``max_new_tokens`` tokens with the compiled decoder ``model``.

    ``prompts``: a string, a list of strings, or lists of token ids. ``config``: a
    :class:`GenerationConfig`; keyword ``options`` (its field names) update it, e.g.
    ``generate(model, prompts, max_new_tokens=32, temperature=0.8, top_p=0.9, seed=1)``. Greedy by
    default; ``temperature`` > 0 samples (``top_p`` < 1 keeps the smallest set of tokens whose
    probability reaches ``top_p``) from a generator seeded by ``seed``. A row stops at ``eos_token_id``
    (``"auto"``: the tokenizer's, ``None``: never). ``backbone``: the loaded backbone ``model`` was
    compiled on (default: loaded from its reference). ``cache=False`` forces full recomputation.
    """
    config = generation_config(config, options)
    sampler = Sampler(config.temperature, config.top_p, config.seed)
    max_new_tokens, cache = config.max_new_tokens, config.cache
    bb = get_backbone(backbone if backbone is not None else compile_info(model).backbone_ref)
    head = lm_head(bb, model)  # the model's trained copy when its spec trains lm_head
    given = _prompt_list(prompts)
    rows = [_encode(bb, p, head.num_classes) for p in given]
    _check_length(bb, rows, max_new_tokens)
    eos = _eos(bb) if config.eos_token_id == "auto" else config.eos_token_id
    decoding = _Decoding(sampler, max_new_tokens, eos, _pad_id(bb, head.num_classes), _device(model))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            tic = time.perf_counter()
            new, why = _generate(model, bb, head, rows, decoding, cache)
            seconds = time.perf_counter() - tic
    finally:
        model.train(was_training)
    notice = f"generating without a key-value cache (each token recomputes the whole sequence): {why}" if why else ""
    if notice:
        warnings.warn(notice, FullRecomputationWarning, stacklevel=2)
    outputs = [GeneratedText(p, _decode(bb, ids), ids) for p, ids in zip(given, new)]
    return Generation(outputs, cache and not why, notice, sum(map(len, new)), seconds)


@dataclass(frozen=True)
class _Decoding:
    sampler: Sampler
    max_new_tokens: int
    eos: int | None
    pad: int
    device: torch.device


def _generate(model, bb, head, rows, decoding: _Decoding, cache: bool) -> tuple[list[list[int]], str]:
    """New tokens per row, with the cache where it serves (checked on the prompts), and why not."""
    full = FullRecompute(model, head)
    if not cache:
        return _run_groups(full, rows, decoding), ""
    cached, why = _cached(model, bb, head)
    if cached is not None:
        ids, mask = _left_padded(rows, decoding.pad, decoding.device)
        with cached.active():
            try:
                logits = cached.start(ids, mask)
                why = _disagreement(logits, full.start(ids, mask))
            except Unmapped as e:
                why = str(e)
            if not why:
                return _continue(cached, logits, decoding), ""
    return _run_groups(full, rows, decoding), why


def _prompt_list(prompts) -> list:
    if not isinstance(prompts, (str, list, tuple)):
        raise ArgumentError(f"prompts must be a string, a list of strings or lists of token ids, not "
                            f"{type(prompts).__name__} {prompts!r:.40}")
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    if not prompts:
        raise TaskError("generate needs at least one prompt", hint="pass a string or a list of strings")
    return prompts


def _encode(bb, prompt, vocab: int) -> list[int]:
    if isinstance(prompt, str):
        if bb.tokenizer is None:
            raise TaskError(f"backbone '{bb.ref}' has no tokenizer, so a text prompt cannot be tokenized",
                            hint="pass the prompt as a list of token ids")
        ids = _token_ids(bb.tokenizer, [prompt])
    elif isinstance(prompt, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in prompt):
        ids = list(prompt)
    else:
        raise TaskError(f"a prompt must be a string or a list of token ids, not {type(prompt).__name__}",
                        hint='e.g. generate(model, ["In the beginning"], max_new_tokens=20)')
    if not ids:
        raise TaskError(f"prompt {prompt!r} has no tokens", hint="give a prompt with some text in it")
    if not all(0 <= i < vocab for i in ids):
        raise TaskError(f"prompt {prompt!r} holds token ids outside the vocabulary 0..{vocab - 1}",
                        hint="use ids of the backbone's tokenizer")
    return ids


def _check_length(bb, rows: list[list[int]], max_new_tokens: int) -> None:
    config, wpe = getattr(bb.module, "config", None), getattr(bb.module, "wpe", None)
    limit = (getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
             or getattr(wpe, "num_embeddings", None))
    longest = max(map(len, rows))
    if limit is not None and longest >= limit:  # not even one new token fits: only a shorter prompt helps
        raise TaskError(f"the longest prompt has {longest} tokens, and backbone '{bb.ref}' has {limit} positions, "
                        f"so no new token fits after it", hint=f"shorten the prompt to {limit - 1} tokens or fewer")
    if limit is not None and longest + max_new_tokens > limit:
        raise TaskError(f"the longest prompt has {longest} tokens, and {longest} + {max_new_tokens} new tokens is "
                        f"more than the {limit} positions of backbone '{bb.ref}'",
                        hint=f"use --max-new-tokens {limit - longest} or less, or a shorter prompt")


def _eos(bb) -> int | None:
    hf = getattr(bb.tokenizer, "tokenizer", None)
    return getattr(hf, "eos_token_id", None) if hf is not None else None


def _pad_id(bb, vocab: int) -> int:
    """What fills the left padding (masked, so any id the embedding holds): the tokenizer's pad id, or 0
    when it has none or one the model's vocabulary lacks (a pad token added to the tokenizer alone)."""
    hf = getattr(bb.tokenizer, "tokenizer", None)
    pad = getattr(hf, "pad_token_id", None)
    return pad if isinstance(pad, int) and 0 <= pad < vocab else 0


def _decode(bb, ids: list[int]) -> str:
    decode = getattr(getattr(bb.tokenizer, "tokenizer", None), "decode", None)
    if decode is None:  # the zoo's hash tokenizer cannot turn ids back into words
        return " ".join(f"<{i}>" for i in ids)
    return decode(ids, skip_special_tokens=True)


def _cached(model, bb, head) -> tuple[Cached | None, str]:
    """The cached stepper with the spec's adapters hooked on, or None and why it cannot serve this model."""
    if not cache_argument(bb.module):
        return None, f"backbone '{bb.ref}' has no key-value cache of its own"
    if len({p.device for p in model.parameters()} | {p.device for p in bb.module.parameters()}) > 1:
        return None, "the compiled model and its backbone are on different devices"
    info = compile_info(model)
    try:
        hooks = plan_hooks(trace_backbone(bb, info.frontend), info.plan, bb.module)
    except Unmapped as e:
        return None, str(e)
    prefixes = tuple(f"{p}." for p in info.plan.train)
    trained = {k: v for k, v in model.state_dict().items() if prefixes and k.startswith(prefixes)}
    return Cached(bb.module, head, trained, partial(attached, hooks, backbone=bb.module, model=model)), ""


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _disagreement(got: torch.Tensor, want: torch.Tensor) -> str:
    """Why the cached model's next-token logits on the prompts cannot be trusted, or ""."""
    difference, size = float((got - want).abs().max()), float(want.abs().max())
    if difference <= CHECK_RTOL * max(1.0, size):
        return ""
    return (f"the hooked model's logits differ from the compiled model's by {difference:.3g} "
            f"(allowed {CHECK_RTOL:g} x {max(1.0, size):.3g})")


def _left_padded(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(map(len, rows))
    ids = torch.full((len(rows), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, longest - len(row):] = torch.tensor(row)
        mask[r, longest - len(row):] = 1
    return ids.to(device), mask.to(device)


def _run_groups(full: FullRecompute, rows, decoding: _Decoding) -> list[list[int]]:
    """New tokens per row. Without position ids, left padding would shift positions: such a model
    gets one batch per prompt length instead, so no row is padded."""
    if full.positions:
        groups = [list(range(len(rows)))]
    else:
        by_length: dict[int, list[int]] = {}
        for r, row in enumerate(rows):
            by_length.setdefault(len(row), []).append(r)
        groups = list(by_length.values())
    new: list[list[int]] = [[] for _ in rows]
    for group in groups:
        ids, mask = _left_padded([rows[r] for r in group], decoding.pad, decoding.device)
        for r, tokens in zip(group, _continue(full, full.start(ids, mask), decoding)):
            new[r] = tokens
    return new


def _continue(stepper, logits: torch.Tensor, decoding: _Decoding) -> list[list[int]]:
    """Up to ``max_new_tokens`` tokens per row from the prompts' ``logits``; a row that produced ``eos``
    stops (it is fed ``pad`` after)."""
    new: list[list[int]] = [[] for _ in range(logits.shape[0])]
    done = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
    for step in range(decoding.max_new_tokens):
        tokens = decoding.sampler(logits)
        for r in (~done).nonzero().flatten().tolist():
            new[r].append(int(tokens[r]))
        if decoding.eos is not None:
            done |= tokens == decoding.eos
        if step == decoding.max_new_tokens - 1 or bool(done.all()):
            break
        logits = stepper.step(torch.where(done, torch.full_like(tokens, decoding.pad), tokens))
    return new
