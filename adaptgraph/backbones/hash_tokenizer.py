"""A deterministic tokenizer for the zoo's text models: no vocabulary file, no download.

Words are lower-cased, split on word/punctuation boundaries and hashed (CRC-32,
stable across runs and machines) into a fixed vocabulary. Every text becomes
``[CLS] words... [SEP]``; a batch is padded with ``[PAD]`` to its longest text.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import torch

from adaptgraph.backbones.tokenizer_call import checked_texts, cut_pair, is_pair, pad_batch

PAD_ID, CLS_ID, SEP_ID, UNUSED_ID = 0, 1, 2, 3
FIRST_WORD_ID = 4  # ids below this are special
_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class HashTokenizer:
    """``tokenizer(texts, max_length)`` -> ``{"input_ids", "attention_mask"}`` (LongTensor, B x T)."""

    vocab_size: int = 1000

    def __call__(self, texts: list[str], max_length: int = 128) -> dict[str, torch.Tensor]:
        ids = [self.encode_pair(*t, max_length) if is_pair(t) else self.encode(t, max_length)
               for t in checked_texts(texts, max_length)]
        return pad_batch(ids, PAD_ID)

    def encode(self, text: str, max_length: int = 128) -> list[int]:
        """``[CLS] word ids [SEP]``, the words cut so that the whole fits ``max_length``."""
        words = _WORDS.findall(text.lower())[: max(max_length - 2, 0)]
        return [CLS_ID] + [self.word_id(w) for w in words] + [SEP_ID]

    def encode_pair(self, first: str, second: str, max_length: int = 128) -> list[int]:
        """``[CLS] first [SEP] second [SEP]``, the longer text cut first to fit ``max_length``."""
        a, b = (_WORDS.findall(t.lower()) for t in (first, second))
        keep_a, keep_b = cut_pair(len(a), len(b), max_length - 3)
        return ([CLS_ID] + [self.word_id(w) for w in a[:keep_a]] + [SEP_ID]
                + [self.word_id(w) for w in b[:keep_b]] + [SEP_ID])

    def word_id(self, word: str) -> int:
        """The id of one (lower-cased) word."""
        return FIRST_WORD_ID + zlib.crc32(word.encode("utf-8")) % (self.vocab_size - FIRST_WORD_ID)
