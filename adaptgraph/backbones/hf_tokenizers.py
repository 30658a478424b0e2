"""Tokenizers for Hugging Face backbones, behind the call shape of ``tokenizer_call``.

``tokenizer(texts, max_length)`` -> ``{"input_ids", "attention_mask"}``, LongTensors
padded to the longest text of the batch (not to a fixed length).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from adaptgraph.backbones.tokenizer_call import checked_texts, pad_batch


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

    def __call__(self, texts: list[str], max_length: int = 128) -> dict[str, torch.Tensor]:
        texts = checked_texts(texts, max_length)
        ids = []
        for encoding in self.tokenizer.encode_batch(texts, add_special_tokens=False):
            encoding.truncate(max(max_length - self.specials, 0))
            ids.append(self.tokenizer.post_process(encoding).ids)  # adds [CLS] ... [SEP]
        return pad_batch(ids, self.pad_id)


@dataclass(frozen=True, eq=False)
class AutoTokenizerCall:
    """A ``transformers`` tokenizer (from ``AutoTokenizer``) called with dynamic padding."""

    tokenizer: object  # transformers.PreTrainedTokenizerBase

    def __call__(self, texts: list[str], max_length: int = 128) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(checked_texts(texts, max_length), padding="longest", truncation=True,
                               max_length=max_length, return_tensors="pt")
        return {"input_ids": batch["input_ids"].long(), "attention_mask": batch["attention_mask"].long()}
