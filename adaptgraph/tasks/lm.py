"""``lm:PATH``: causal language modelling, next-token prediction on your own text.

Options (all optional): ``lm:PATH?block=128&split=90/5/5&field=text&max_blocks=N``

- PATH: a text file (documents or paragraphs separated by blank lines; Windows (CRLF) and old Mac (CR)
  line endings read as LF, so every copy of a text trains on the same tokens) or a ``.jsonl`` file (one
  document per line, its text under ``field``, default ``text``, taken as written);
- ``split=A/B/C`` (default 90/5/5): the paragraphs in file order, cut by characters into
  train, validation and test. Not shuffled: held-out text is later text, not sentences
  interleaved with the training ones;
- ``block=N`` (default 128): tokens per example. Each split is tokenized with the
  backbone's own tokenizer, paragraph by paragraph, concatenated and cut into blocks of
  N tokens (the rest is dropped). All blocks have one length and no padding, so the mean
  of the per-block losses is the mean per-token loss;
- ``max_blocks=N``: keep the first N blocks of each split (for quick runs).

``prompt=KEY&response=KEY`` or ``messages=KEY`` make it instruction data, the loss on the
responses only (``lm_instruct``).

An example's loss is the mean cross-entropy of tokens 2..N given the ones before them,
through the backbone's own LM head (frozen, ``lm_head``); perplexity is ``exp(loss)`` and
"accuracy" the share of next tokens the argmax gets right. Tokens depend on the
backbone, so the task is bound to one with ``for_backbone`` (``fit``, ``evaluate`` and
``score_edges`` do it); the fingerprint covers the text and the options.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import TaskError
from ..fileio import read_text
from .base import SPLITS, split_index
from .data_files import read_rows
from .lm_head import BoundLMTask
from .lm_instruct import INSTRUCT_OPTIONS, load_instruct
from .refs import TaskRef, check_options, int_option, split_fractions

LM_OPTIONS = ("block", "field", "max_blocks") + INSTRUCT_OPTIONS
DEFAULT_BLOCK = 128
LM_SPLIT = (0.9, 0.05, 0.05)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_TOKENIZE_CHUNK = 64  # paragraphs per tokenizer call
_MAX_PARAGRAPH_TOKENS = 1 << 20  # a limit for the tokenizer call, not a cut: no paragraph is this long


@dataclass(frozen=True, eq=False)
class LMTask:
    """Text in three contiguous splits; ``for_backbone`` makes the token blocks of one backbone."""

    name: str
    splits: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # paragraphs per split
    block: int = DEFAULT_BLOCK
    max_blocks: int | None = None
    modality: str = "text"
    class_names: tuple[str, ...] = ()
    num_classes: int = 0  # the vocabulary, known once bound
    _bound: dict = field(default_factory=dict, repr=False)

    def examples(self, split: str) -> list:
        raise TaskError(f"task '{self.name}' is a language-model task: its examples are token blocks of one "
                        f"backbone's tokenizer", hint="call task.for_backbone(backbone).examples(split)")

    def fingerprint(self) -> str:
        """``NAME|HASH`` over the paragraphs of every split, the block length and the block limit."""
        digest = hashlib.sha256(f"block={self.block}|max_blocks={self.max_blocks}".encode())
        for name, paragraphs in zip(SPLITS, self.splits):
            digest.update(f"|{name}|".encode() + "\x1e".join(paragraphs).encode())
        return f"{self.name}|{digest.hexdigest()[:16]}"

    def for_backbone(self, backbone) -> "LMBlocks":
        """The blocks of every split under ``backbone``'s tokenizer (cached per backbone)."""
        key = (getattr(backbone, "ref", None), id(getattr(backbone, "tokenizer", None)))
        if key not in self._bound:
            from .lm_head import lm_head  # the head says how many tokens there are

            head = lm_head(backbone)
            check_positions(backbone, self.block, self.name)
            streams = [self._stream(backbone, paragraphs) for paragraphs in self.splits]
            blocks = tuple(self._cut(stream) for stream in streams)
            _check_every_split_has_blocks(self, streams, blocks)
            self._bound[key] = LMBlocks(self, blocks, head.num_classes, backbone)
        return self._bound[key]

    def _stream(self, backbone, paragraphs: tuple[str, ...]) -> torch.Tensor:
        """The split's token ids, paragraph after paragraph."""
        tokenizer = getattr(backbone, "tokenizer", None)
        if tokenizer is None:
            raise TaskError(f"backbone '{backbone.ref}' has no tokenizer, so task '{self.name}' cannot be "
                            f"tokenized", hint="use a backbone folder that holds its tokenizer files")
        ids = []
        for start in range(0, len(paragraphs), _TOKENIZE_CHUNK):
            ids.extend(_token_ids(tokenizer, list(paragraphs[start:start + _TOKENIZE_CHUNK])))
        return torch.tensor(ids, dtype=torch.long)

    def _cut(self, stream: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Blocks of ``self.block`` tokens (the rest dropped), at most ``max_blocks``."""
        count = len(stream) // self.block
        if self.max_blocks is not None:
            count = min(count, self.max_blocks)
        return tuple(stream[: count * self.block].view(count, self.block))


def _check_every_split_has_blocks(task: LMTask, streams: list[torch.Tensor], blocks: tuple) -> None:
    """The one place the splits' sizes are known: a split without a block would train a run whose
    validation or test number is missing (``validation: null``), so refuse before training."""
    if all(blocks):
        return
    counts = ", ".join(f"{name} {len(b)} block{'s' * (len(b) != 1)} ({len(s)} tokens, "
                       f"{len(p)} paragraph{'s' * (len(p) != 1)})"
                       for name, b, s, p in zip(SPLITS, blocks, streams, task.splits))
    empty = [name for name, b in zip(SPLITS, blocks) if not b]
    shortest = min(len(s) for s in streams)
    fix = (f"a smaller block (block={shortest} fits every split)" if shortest >= 2 else
           "more paragraphs (splits are cut between paragraphs, at blank lines)")
    raise TaskError(f"task '{task.name}' has no block of {task.block} tokens in split "
                    f"{' and '.join(repr(n) for n in empty)}: {counts}; a run needs validation and test numbers",
                    hint=f"give {fix}, a larger share for the small splits (split=80/10/10) or a longer text")


@dataclass(frozen=True, eq=False)
class LMBlocks(BoundLMTask):
    """An :class:`LMTask` bound to one backbone: examples are ``(token block, 0)`` pairs."""

    task: LMTask
    blocks: tuple[tuple[torch.Tensor, ...], ...]
    num_classes: int  # the vocabulary: next-token prediction chooses among its tokens
    backbone: object
    modality: str = "text"
    class_names: tuple[str, ...] = ()

    def examples(self, split: str) -> list[tuple[torch.Tensor, int]]:
        return [(block, 0) for block in self.blocks[split_index(split)]]

    def scored_tokens(self, split: str) -> int:
        """How many tokens of ``split`` the loss counts: all but the first of every block."""
        return len(self.blocks[split_index(split)]) * (self.task.block - 1)


def check_positions(backbone, block: int, name: str) -> None:
    """TaskError when a block is longer than the backbone has position embeddings for."""
    config, wpe = getattr(backbone.module, "config", None), getattr(backbone.module, "wpe", None)
    limit = (getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
             or getattr(wpe, "num_embeddings", None))
    if limit is not None and block > limit:
        raise TaskError(f"task '{name}' has blocks of {block} tokens but backbone '{backbone.ref}' has positions "
                        f"for {limit}", hint=f"use block={limit} or less")


def _token_ids(tokenizer, texts: list[str]) -> list[int]:
    """The ids of ``texts``, one after the other, special tokens included (a Llama BOS per paragraph)."""
    hf = getattr(tokenizer, "tokenizer", None)
    if hasattr(hf, "pad_token"):  # a transformers tokenizer: called unpadded (GPT-2's has no pad token)
        return [i for row in hf(texts, verbose=False)["input_ids"] for i in row]
    batch = tokenizer(texts, max_length=_MAX_PARAGRAPH_TOKENS)
    return batch["input_ids"][batch["attention_mask"] > 0].tolist()  # row by row, without the padding


def load_lm(ref: TaskRef, seed: int = 0) -> LMTask:
    """``lm:PATH[?options]`` (see the module docstring); ``seed`` is unused: the split is not shuffled."""
    check_options(ref, LM_OPTIONS)
    if not ref.body:
        raise TaskError(f"task '{ref.text}' names no file", hint="write lm:PATH, e.g. lm:book.txt?block=128")
    if ref.get("per_class") is not None:
        raise TaskError(f"option per_class of task '{ref.text}' has no meaning for a language-model task",
                        hint="use max_blocks=N to keep the first N blocks of each split")
    path = Path(ref.body)
    block = int_option(ref, "block", DEFAULT_BLOCK, minimum=2, maximum=1 << 16)
    if any(ref.get(key) is not None for key in INSTRUCT_OPTIONS):
        return load_instruct(ref, path, block)
    if ref.get("field") is not None and path.suffix != ".jsonl":
        raise TaskError(f"option field of task '{ref.text}' names a key of a .jsonl file, but {path} is plain text",
                        hint="drop field= (the whole file is the text), or give a .jsonl file")
    paragraphs = _paragraphs(path, ref.get("field", "text"))
    fractions = split_fractions(ref) if ref.get("split") is not None else LM_SPLIT
    return LMTask(name=ref.canonical(), splits=_contiguous_split(paragraphs, fractions), block=block,
                  max_blocks=int_option(ref, "max_blocks", None))


def _paragraphs(path: Path, key: str) -> list[str]:
    if path.suffix == ".jsonl":
        texts = [row[0] for row in read_rows(path, "jsonl", (("field", key),))]  # role = the option's name
    else:
        if not path.exists() and not path.is_symlink():
            raise TaskError(f"text file not found: {path}", hint="check the path (relative to the current directory)")
        texts = [read_text(path, "text", error=TaskError, what="the text file")]  # bounded, regular files only
    paragraphs = [p.strip() for text in texts for p in _PARAGRAPHS.split(text) if p.strip()]
    if not paragraphs:
        raise TaskError(f"{path} holds no text", hint="give a file with some text in it")
    return paragraphs


def _contiguous_split(paragraphs: list[str], fractions) -> tuple[tuple[str, ...], ...]:
    """Paragraphs in order, cut where the running character count passes each split's share."""
    total = sum(len(p) for p in paragraphs)
    bounds = (fractions[0] * total, (fractions[0] + fractions[1]) * total)
    out: tuple[list[str], list[str], list[str]] = ([], [], [])
    seen = 0
    for p in paragraphs:
        out[(seen >= bounds[0]) + (seen >= bounds[1])].append(p)
        seen += len(p)
    return tuple(tuple(part) for part in out)
