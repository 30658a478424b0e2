"""Tokenizers for Hugging Face backbones, behind the call shape of ``tokenizer_call``.

``tokenizer(texts, max_length)`` -> ``{"input_ids", "attention_mask"}``, LongTensors
padded to the longest text of the batch (not to a fixed length).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from adaptgraph.backbones.tokenizer_call import checked_texts, cut_pair, is_pair, pad_batch


@dataclass(frozen=True, eq=False)
class TokenizerFile:
    """A ``tokenizer.json`` read with the ``tokenizers`` library, with our own truncation and padding.

    The file's own settings (MiniLM's pads and truncates everything to 128) are
    switched off, so that a batch is only as long as its longest text.
    """

    tokenizer: object  # tokenizers.Tokenizer
    pad_id: int
    specials: int  # tokens the post-processor adds to one text ([CLS] and [SEP])

    @classmethod
    def load(cls, path: Path) -> "TokenizerFile":
        """Read ``path`` (a tokenizer.json)."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        padding = tok.padding
        pad_id = padding["pad_id"] if padding else (tok.token_to_id("[PAD]") or 0)
        tok.no_padding()
        tok.no_truncation()
        return cls(tok, pad_id, tok.num_special_tokens_to_add(False))

    def __call__(self, texts: list, max_length: int = 128) -> dict[str, torch.Tensor]:
        texts = checked_texts(texts, max_length)
        encoded = [self._pair(t, max_length) if is_pair(t) else self._single(t, max_length) for t in texts]
        return pad_batch([e.ids for e in encoded], self.pad_id, [e.type_ids for e in encoded])

    def _single(self, text: str, max_length: int):
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        encoding.truncate(max(max_length - self.specials, 0))
        return self.tokenizer.post_process(encoding)  # adds [CLS] ... [SEP]

    def _pair(self, pair: tuple[str, str], max_length: int):
        first, second = (self.tokenizer.encode(t, add_special_tokens=False) for t in pair)
        budget = max_length - self.tokenizer.num_special_tokens_to_add(True)
        keep = cut_pair(len(first.ids), len(second.ids), budget)
        for encoding, length in zip((first, second), keep):
            encoding.truncate(length)
        return self.tokenizer.post_process(first, second)  # [CLS] first [SEP] second [SEP], types 0 / 1


@dataclass(frozen=True, eq=False)
class AutoTokenizerCall:
    """A ``transformers`` tokenizer (from ``AutoTokenizer``) called with dynamic padding."""

    tokenizer: object  # transformers.PreTrainedTokenizerBase

    def __call__(self, texts: list, max_length: int = 128) -> dict[str, torch.Tensor]:
        texts = checked_texts(texts, max_length)
        columns = list(zip(*texts)) if texts and is_pair(texts[0]) else [texts]
        batch = self.tokenizer(*[list(c) for c in columns], padding="longest", truncation=True,
                               max_length=max_length, return_tensors="pt")
        ids = batch["input_ids"].long()
        types = batch["token_type_ids"].long() if "token_type_ids" in batch else torch.zeros_like(ids)
        return {"input_ids": ids, "attention_mask": batch["attention_mask"].long(), "token_type_ids": types}
